"""Finding whole-word keyword mentions: jieba's tokens, segmenting as little as possible.

The fast path proves most occurrences are whole tokens from the dictionary alone (no word crosses
their edges) and segments only a short window around the others; its mentions equal those of
segmenting the whole clause.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from handlers.keywords import lexicon
from handlers.keywords.lexicon import CJK_WORD_RE
from handlers.keywords.reading import Clause

# Distinct stretches whose jieba tokens an engine keeps (each entry is a few hundred bytes).
SEGMENT_CACHE_SIZE = 4096

# A segmented stretch: token words and their start offsets in the text.
Tokens = tuple[Sequence[str], list[int]]
# A keyword mention: keyword, start offset, index of its first and last token.
Mention = tuple[str, int, int, int]


def clause_of(text: str, cs: int, ce: int, tokens: Tokens) -> Clause:
    """The Clause of text[cs:ce] with its tokens and the delimiter after it."""
    return Clause(tokens[0], tokens[1], text[cs:ce], text[ce] if ce < len(text) else "")


class Lexicon:
    """The engine's jieba tokenizer and what is derived from it, built on first use."""

    def __init__(self, words: tuple[str, ...], keywords: Iterable[str]) -> None:
        self.tok = lexicon.tokenizer_for(words)
        self.max_word_len = self.tok.max_word_len
        self.freq: dict[str, int] = self.tok.freq
        self.ensure = self.tok.ensure
        self.solid = frozenset(kw for kw in keywords if self._is_solid(kw))

    def _is_solid(self, kw: str) -> bool:
        """True if jieba always keeps `kw` as one token once nothing crosses its edges."""
        return len(kw) > 1 and CJK_WORD_RE.fullmatch(kw) is not None and self.tok.lcut(kw) == [kw]


class MentionFinder:
    """Keyword occurrences and which of them are whole-word mentions; the dictionary is loaded on first need."""

    def __init__(self, words: tuple[str, ...], kw_index: dict[str, tuple[str, ...]], kw_start: re.Pattern[str]) -> None:
        self._words = words
        self.kw_index = kw_index
        self.kw_start = kw_start
        self._lex: Lexicon | None = None
        self._segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    @property
    def lex(self) -> Lexicon:
        if self._lex is None:
            self._lex = Lexicon(self._words, self.kw_index_words())
        return self._lex

    def kw_index_words(self) -> Iterable[str]:
        return (kw for kws in self.kw_index.values() for kw in kws)

    def segment(self, text: str, start: int, end: int) -> Tokens:
        """Segment text[start:end]; offsets are relative to the whole text.

        jieba's tokens depend only on the string (an engine's dictionary never changes after
        construction), and the stretches sent here repeat in chat, so they are cached per engine.
        """
        piece = text[start:end]
        entry = self._segments.get(piece)
        if entry is None:
            entry = self._segment_uncached(piece)
        words, offsets = entry
        return words, [start + offset for offset in offsets]

    def _segment_uncached(self, piece: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Segment `piece` with jieba and store its tokens; the bounded cache is emptied when full."""
        words = tuple(self.lex.tok.lcut(piece))
        offsets = []
        pos = 0
        for word in words:
            offsets.append(pos)
            pos += len(word)
        if len(self._segments) >= SEGMENT_CACHE_SIZE:
            self._segments.clear()  # simple and thread-safe enough: a racing reader just recomputes
        entry = self._segments[piece] = (words, tuple(offsets))
        return entry

    def occurrences(self, text: str, cs: int, ce: int) -> list[tuple[str, int]]:
        """All (keyword, start) substring occurrences inside the clause, overlaps included."""
        found = []
        for m in self.kw_start.finditer(text, cs, ce):
            s = m.start()
            for kw in self.kw_index[text[s]]:
                if text.startswith(kw, s, ce):  # within the clause
                    found.append((kw, s))
        return found

    def fast_mentions(self, text: str, cs: int, ce: int, found: list[tuple[str, int]]) -> list[Mention]:
        """Whole-word mentions, segmenting only the stretch between forced cuts around undecided occurrences."""
        mentions: list[Mention] = []
        window: tuple[int, int, Clause] | None = None
        for kw, s in found:
            if self._is_proven(text, kw, s, cs, ce):
                mentions.append((kw, s, -1, -1))
                continue
            if window is None or not window[0] <= s < s + len(kw) <= window[1]:
                lo = self._cut_before(text, s, cs, ce)
                hi = self._cut_after(text, s + len(kw), cs, ce)
                window = (lo, hi, clause_of(text, lo, hi, self.segment(text, lo, hi)))
            mentions.extend(self.mentions(window[2], [(kw, s)]))
        return mentions

    def _is_proven(self, text: str, kw: str, s: int, cs: int, ce: int) -> bool:
        """True if jieba surely makes this occurrence one token: it is solid and no word crosses its edges."""
        return kw in self.lex.solid and self._is_cut(text, s, cs, ce) and self._is_cut(text, s + len(kw), cs, ce)

    def _cut_before(self, text: str, pos: int, cs: int, ce: int) -> int:
        """Nearest position <= pos where jieba must cut."""
        while not self._is_cut(text, pos, cs, ce):
            pos -= 1
        return pos

    def _cut_after(self, text: str, pos: int, cs: int, ce: int) -> int:
        """Nearest position >= pos where jieba must cut."""
        while not self._is_cut(text, pos, cs, ce):
            pos += 1
        return pos

    def _is_cut(self, text: str, pos: int, cs: int, ce: int) -> bool:
        """True if jieba's best path over text[cs:ce] must cut at pos.

        Holds at the clause edges, and where no dictionary word spans chars pos-1 and pos and
        they are not two Latin letters or digits (which jieba joins). jieba's dictionary holds
        every prefix of every word (value 0), so a word from k crossing pos exists only if
        text[k:pos+1] is a key, and the search from k stops at the first non-key.
        """
        if pos <= cs or pos >= ce:
            return True
        pair = text[pos - 1 : pos + 1]
        if pair.isascii() and pair.isalnum():  # two Latin letters or digits
            return False
        lex = self.lex
        get = lex.freq.get
        lowest = max(cs, pos - lex.max_word_len)
        for k in range(pos - 1, lowest - 1, -1):
            j = pos + 1
            freq = get(text[k:j])
            while freq is not None:
                if freq:
                    return False
                if j == ce:
                    break
                j += 1
                freq = get(text[k:j])
        return True

    def mentions(self, clause: Clause, found: list[tuple[str, int]]) -> list[Mention]:
        """Keep the occurrences that are whole-word mentions."""
        words, starts = clause.words, clause.starts
        mentions = []
        for kw, s in found:
            e = s + len(kw)
            first = bisect_right(starts, s) - 1
            last = bisect_right(starts, e - 1) - 1
            if self._is_word(words, starts, first, last, s, e):
                mentions.append((kw, s, first, last))
        return mentions

    def _is_word(self, words: Sequence[str], starts: Sequence[int], first: int, last: int, s: int, e: int) -> bool:
        """True if text[s:e] is whole tokens, or the head or tail of one non-idiom compound token.

        The rest of the compound must itself be a dictionary word: 分期付款, 优惠政策, 价格便宜.
        """
        if starts[first] == s and starts[last] + len(words[last]) == e:
            return True
        word = words[first]
        freq = self.lex.freq
        if first != last or not freq.get(word) or word in lexicon.idiom_words():
            return False
        if starts[first] == s:
            rest = word[e - s :]
        elif starts[first] + len(word) == e:
            rest = word[: s - starts[first]]
        else:
            return False
        return bool(freq.get(rest))
