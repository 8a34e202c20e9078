"""Keyword engine: whole-word, clause-aware keyword rules for customer messages.

A rule fires when one of its keywords is mentioned as a word in its own right (jieba's token
boundaries decide) and the customer means the thing: handlers.keywords.reading decides that from
the mention's clause and the clause after it (negations, conditions, questions, dismissals, other
senses). The fast path segments as little as it can and gives the same hits as the reference path,
which segments every line whole.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from handlers.keywords import lexicon
from handlers.keywords.lexicon import CJK_WORD_RE, HAN_WORD_RE, ScanWords, clean
from handlers.keywords.reading import CONSEQUENCE_MARKERS, Clause, Reader, Verdict

__all__ = ["Hit", "KeywordEngine", "Reading", "RuleLike", "reference_scan"]

# Characters that end a clause. ASCII "." is not one: in chat it is mostly a decimal point (3.5折).
CLAUSE_DELIMITERS = "，。！？；,!?;…～~ \t\r\n\u3000"
# Distinct stretches whose jieba tokens an engine keeps (each entry is a few hundred bytes).
SEGMENT_CACHE_SIZE = 4096

_DELIMS = frozenset(CLAUSE_DELIMITERS)
_CLAUSE_RE = re.compile("[^" + re.escape(CLAUSE_DELIMITERS) + "]+")

if any(HAN_WORD_RE.fullmatch(ch) for ch in CLAUSE_DELIMITERS):  # pragma: no cover - config guard
    raise RuntimeError("clause delimiters must be characters jieba never joins to a word")


class RuleLike(Protocol):
    """What the engine needs from a rule (bot.config.RuleConfig satisfies it; `senses` is optional)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def keywords(self) -> tuple[str, ...]: ...

    @property
    def exclude(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Hit:
    """One firing keyword mention; start/end are character offsets into the text."""

    rule: str
    keyword: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Reading:
    """How one keyword occurrence was read for one rule (for `rules test --explain`)."""

    rule: str
    keyword: str
    start: int
    end: int
    fired: bool
    reason: str
    word: str = ""


@dataclass(frozen=True)
class _Rule:
    name: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...]
    senses: dict[str, tuple[str, ...]]


# A segmented stretch: token words and their start offsets in the text.
_Tokens = tuple[Sequence[str], list[int]]
# A keyword mention: keyword, start offset, index of its first and last token.
_Mention = tuple[str, int, int, int]


def _senses_of(raw: Any) -> dict[str, tuple[str, ...]]:
    items = raw.items() if isinstance(raw, Mapping) else raw
    return {kw.strip(): clean(cues) for kw, cues in items if kw.strip()}


def _by_first_char(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Index words by first character, longest first."""
    index: dict[str, list[str]] = {}
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        index.setdefault(word[0], []).append(word)
    return {ch: tuple(ws) for ch, ws in index.items()}


def _first_char_class(words: Iterable[str]) -> re.Pattern[str]:
    """Regex matching one character that begins one of `words` (never matches if there are none)."""
    firsts = "".join(sorted({w[0] for w in words}))
    return re.compile("[" + re.escape(firsts) + "]" if firsts else "(?!)")


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    """Regex alternation of literal words, longest first (None if there are none)."""
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return re.compile("|".join(re.escape(w) for w in ordered)) if ordered else None


class _Lexicon:
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


class KeywordEngine:
    """Scan customer messages for rule keywords; cheap to rebuild, safe to share between threads.

    `negations` are the admin's `[scan] negations`; `words` the rest of `[scan]` (see ScanWords).
    """

    def __init__(self, rules: Sequence[RuleLike], negations: Sequence[str], words: ScanWords | None = None) -> None:
        words = words or ScanWords()
        self._rules = tuple(
            _Rule(r.name, clean(r.keywords), clean(r.exclude), _senses_of(getattr(r, "senses", ()))) for r in rules
        )
        kw_rules: dict[str, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for kw in rule.keywords:
                kw_rules.setdefault(kw, []).append(i)
        self._kw_rules = {kw: tuple(ids) for kw, ids in kw_rules.items()}
        self._kw_index = _by_first_char(self._kw_rules)
        forward = frozenset(clean(negations)) | frozenset(clean(words.compound_negations))
        backward = frozenset(clean(words.after_negations))
        neutral = frozenset(clean(words.neutral_words))
        senses = _senses_of(words.senses)
        self.reader = Reader(forward, backward, neutral, senses)
        cues = {c for cs in senses.values() for c in cs} | {
            c for r in self._rules for cs in r.senses.values() for c in cs
        }
        excludes = {p for r in self._rules for p in r.exclude}
        self._kw_any = _alternation(self._kw_rules)  # the prefilter
        self._kw_start = _first_char_class(self._kw_rules)  # where a keyword may start
        # A line holding none of these is read without tokens: every mention fires.
        self._needs_reading = _alternation(forward | backward | neutral | cues | excludes)
        self._backward_any = _alternation(backward)  # a dismissal in the next clause may reach back
        self._next_matters = re.compile(  # what the reading looks for in the next clause
            "|".join(p.pattern for p in (self._backward_any, _alternation(CONSEQUENCE_MARKERS)) if p))
        self._words = tuple(sorted(set(self._kw_rules) | forward | backward | neutral | set(clean(words.extra_words))))
        self._lex: _Lexicon | None = None
        self._segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self._clause_hits: dict[tuple[str, str | None], tuple[tuple[str, str, int], ...]] = {}

    @property
    def lex(self) -> _Lexicon:
        if self._lex is None:
            self._lex = _Lexicon(self._words, self._kw_rules)
        return self._lex

    # ------------------------------------------------------------------------------- public API

    def scan(self, text: str) -> list[Hit]:
        """Return firing hits sorted by start, at most one per (rule, start)."""
        prefilter = self._kw_any
        if prefilter is None or not text or prefilter.search(text) is None:
            return []
        spans = [m.span() for m in _CLAUSE_RE.finditer(text)]
        hits: list[Hit] = []
        cache = self._clause_hits
        for ci, (cs, ce) in enumerate(spans):
            if prefilter.search(text, cs, ce) is None:
                continue
            nxt = spans[ci + 1] if ci + 1 < len(spans) else None
            if nxt is not None and self._next_matters.search(text, *nxt) is None:
                nxt = None  # holds no dismissal or consequence: as good as no clause for the reading
            # A clause's hits depend only on its text, the delimiter after it (？) and the next clause
            # (jieba's tokens depend only on the string), and clauses repeat in chat: cached per engine.
            key = (text[cs : ce + 1], None if nxt is None else text[nxt[0] : nxt[1]])
            found = cache.get(key)
            if found is None:
                found = tuple((h.rule, h.keyword, h.start - cs) for h in self._clause_scan(text, cs, ce, nxt))
                if len(cache) >= SEGMENT_CACHE_SIZE:
                    cache.clear()
                cache[key] = found
            hits.extend(Hit(rule, kw, cs + rs, cs + rs + len(kw)) for rule, kw, rs in found)
        return _finalize(hits)

    def _clause_scan(self, text: str, cs: int, ce: int, nxt: tuple[int, int] | None) -> list[Hit]:
        """The hits of clause text[cs:ce], read with the next clause `nxt` (None if it cannot matter)."""
        found = self._occurrences(text, cs, ce)
        if not found:
            return []
        self.lex.ensure(text[cs:ce])  # the dictionary parts the word tests below look up
        # Reading matters only if the clause holds a negation, cue or exclude phrase, or the next
        # clause a dismissal; otherwise every whole-word mention fires.
        needs = self._needs_reading
        back = self._backward_any
        if (needs is None or needs.search(text, cs, ce) is None) and (
            nxt is None or back is None or back.search(text, *nxt) is None
        ):
            hits: list[Hit] = []
            for kw, s, _first, _last in self._fast_mentions(text, cs, ce, found):
                hits.extend(Hit(self._rules[ri].name, kw, s, s + len(kw)) for ri in self._kw_rules[kw])
            return hits
        clause = self._clause(text, cs, ce, self._segment(text, cs, ce))

        def following() -> Clause | None:
            return None if nxt is None else self._clause(text, nxt[0], nxt[1], self._segment(text, *nxt))

        return self._read_hits(clause, self._mentions(clause, found), following)

    def rules_fired(self, text: str) -> list[str]:
        """Return the sorted unique names of the rules that fire on `text`."""
        return sorted({hit.rule for hit in self.scan(text)})

    def reference_hits(self, text: str) -> list[Hit]:
        """Slow path: segment the whole text with jieba, then read every clause."""
        return _finalize([Hit(r.rule, r.keyword, r.start, r.end) for r in self.explain(text) if r.fired])

    def explain(self, text: str) -> list[Reading]:
        """Every keyword occurrence and how it was read, rule by rule (segments the whole text)."""
        if self._kw_any is None or not text or self._kw_any.search(text) is None:
            return []
        clauses = self._reference_clauses(text)
        readings: list[Reading] = []
        for ci, (clause, cs, ce) in enumerate(clauses):
            found = self._occurrences(text, cs, ce)
            if not found:
                continue
            mentions = self._mentions(clause, found)
            mentioned = {(kw, s) for kw, s, _f, _l in mentions}
            for kw, s in found:
                if (kw, s) not in mentioned:
                    around = self._tokens_around(clause, s, s + len(kw))
                    reason = (f"「{kw}」只是「{around[0]}」这个词的一部分，不算提到" if len(around) == 1 else
                              f"「{kw}」横跨「{'」「'.join(around)}」几个词，不算提到")
                    readings.extend(Reading(self._rules[ri].name, kw, s, s + len(kw), False, reason)
                                    for ri in self._kw_rules[kw])
            nxt: Clause | None = clauses[ci + 1][0] if ci + 1 < len(clauses) else None

            def following(nxt: Clause | None = nxt) -> Clause | None:
                return nxt

            for kw, s, first, last in mentions:
                for ri in self._kw_rules[kw]:
                    rule = self._rules[ri]
                    v = self.reader.read(kw, first, last, clause, following, rule.exclude, rule.senses)
                    readings.append(Reading(rule.name, kw, s, s + len(kw), v.fired, v.reason, v.word))
        return sorted(readings, key=lambda r: (r.start, r.rule, r.end))

    def neighbours(self, text: str, keyword: str) -> list[tuple[str, int]]:
        """The other words of each clause mentioning `keyword`, with their distance in tokens to it."""
        found: list[tuple[str, int]] = []
        if not keyword or keyword not in text:
            return found
        for clause, cs, ce in self._reference_clauses(text):
            occurrences = [(keyword, m.start()) for m in re.finditer(re.escape(keyword), text[cs:ce])]
            mentions = self._mentions(clause, [(kw, cs + s) for kw, s in occurrences])
            for _kw, _s, first, last in mentions:
                found += [(w, first - i if i < first else i - last) for i, w in enumerate(clause.words)
                          if i < first or i > last]
        return found

    # ------------------------------------------------------------------------------- reading

    def _read_hits(self, clause: Clause, mentions: list[_Mention], following: Any) -> list[Hit]:
        hits = []
        negs = self.reader.negations(clause) if mentions else []
        for kw, s, first, last in mentions:
            for ri in self._kw_rules[kw]:
                rule = self._rules[ri]
                verdict: Verdict = self.reader.read(kw, first, last, clause, following, rule.exclude, rule.senses,
                                                    negs)
                if verdict.fired:
                    hits.append(Hit(rule.name, kw, s, s + len(kw)))
        return hits

    @staticmethod
    def _clause(text: str, cs: int, ce: int, tokens: _Tokens) -> Clause:
        return Clause(tokens[0], tokens[1], text[cs:ce], text[ce] if ce < len(text) else "")

    def _reference_clauses(self, text: str) -> list[tuple[Clause, int, int]]:
        words = self.lex.tok.lcut(text)
        clauses = []
        clause_words: list[str] = []
        clause_starts: list[int] = []
        pos = 0
        for word in [*words, "\n"]:
            if word[0] in _DELIMS:
                if clause_words:
                    cs, ce = clause_starts[0], pos
                    clauses.append((self._clause(text, cs, ce, (tuple(clause_words), clause_starts)), cs, ce))
                clause_words, clause_starts = [], []
            else:
                clause_words.append(word)
                clause_starts.append(pos)
            pos += len(word)
        return clauses

    @staticmethod
    def _tokens_around(clause: Clause, s: int, e: int) -> Sequence[str]:
        first = bisect_right(clause.starts, s) - 1
        last = bisect_right(clause.starts, e - 1) - 1
        return clause.words[first : last + 1]

    # ------------------------------------------------------------------------------- segmenting

    def _segment(self, text: str, start: int, end: int) -> _Tokens:
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

    def _occurrences(self, text: str, cs: int, ce: int) -> list[tuple[str, int]]:
        """All (keyword, start) substring occurrences inside the clause, overlaps included."""
        found = []
        for m in self._kw_start.finditer(text, cs, ce):
            s = m.start()
            for kw in self._kw_index[text[s]]:
                if text.startswith(kw, s, ce):  # within the clause
                    found.append((kw, s))
        return found

    def _fast_mentions(self, text: str, cs: int, ce: int, found: list[tuple[str, int]]) -> list[_Mention]:
        """Whole-word mentions, segmenting only the stretch between forced cuts around undecided occurrences."""
        mentions: list[_Mention] = []
        window: tuple[int, int, Clause] | None = None
        for kw, s in found:
            if self._is_proven(text, kw, s, cs, ce):
                mentions.append((kw, s, -1, -1))
                continue
            if window is None or not window[0] <= s < s + len(kw) <= window[1]:
                lo = self._cut_before(text, s, cs, ce)
                hi = self._cut_after(text, s + len(kw), cs, ce)
                window = (lo, hi, self._clause(text, lo, hi, self._segment(text, lo, hi)))
            mentions.extend(self._mentions(window[2], [(kw, s)]))
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

    def _mentions(self, clause: Clause, found: list[tuple[str, int]]) -> list[_Mention]:
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


def _finalize(hits: list[Hit]) -> list[Hit]:
    """Keep the longest hit per (rule, start), drop hits inside a longer hit of the same rule, sort."""
    if len(hits) < 2:
        return hits
    best: dict[tuple[str, int], Hit] = {}
    for hit in hits:
        key = (hit.rule, hit.start)
        if key not in best or hit.end > best[key].end:
            best[key] = hit
    kept = [h for h in best.values() if not any(_covers(o, h) for o in best.values())]
    return sorted(kept, key=lambda h: (h.start, h.rule, h.end))


def _covers(outer: Hit, inner: Hit) -> bool:
    """True if `outer` is a different, longer hit of the same rule spanning `inner`."""
    return (
        outer is not inner
        and outer.rule == inner.rule
        and outer.start <= inner.start
        and inner.end <= outer.end
    )


@dataclass(frozen=True)
class _SnapRule:
    name: str
    kind: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...]
    senses: tuple[tuple[str, tuple[str, ...]], ...] = ()


@lru_cache(maxsize=4)
def _cached_engine(rules: tuple[_SnapRule, ...], negations: tuple[str, ...], words: ScanWords) -> KeywordEngine:
    """Build (and cache) an engine from a hashable snapshot of rules and negations."""
    return KeywordEngine(rules, negations, words)


def reference_scan(
    rules: Sequence[RuleLike], negations: Sequence[str], text: str, words: ScanWords | None = None
) -> list[Hit]:
    """Slow path: segment the whole text with jieba (no prefilter, no shortcut); same semantics as scan."""
    snap = tuple(
        _SnapRule(r.name, r.kind, tuple(r.keywords), tuple(r.exclude),
                  tuple(_senses_of(getattr(r, "senses", ())).items()))
        for r in rules
    )
    return _cached_engine(snap, tuple(negations), words or ScanWords()).reference_hits(text)
