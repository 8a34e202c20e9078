"""Keyword engine: whole-word, negation-aware keyword rules for customer messages.

A rule fires when one of its keywords is mentioned as a word in its own right (jieba's token
boundaries decide), the customer does not negate the mention, and none of the rule's exclude
phrases occurs in the same clause. A negation inside a condition ("再不降价我们就换一家",
"如果不给折扣这单就黄了") does not cancel the demand.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

with warnings.catch_warnings():
    # jieba 0.42.1 has invalid escape sequences in its regex literals; compiling it warns.
    warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
    warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
    import jieba

__all__ = ["Hit", "KeywordEngine", "RuleLike", "reference_scan", "rules_test_report"]

logging.getLogger("jieba").setLevel(logging.WARNING)

# Characters that end a clause; negations and exclude phrases act inside one clause only.
# ASCII "." is not one: in chat it is mostly a decimal point (3.5折, 1.2万).
CLAUSE_DELIMITERS = "，。！？；,!?;…～~ \t\r\n\u3000"
# Negations that also cancel a keyword mentioned *before* them (样品不用寄了, 折扣就不用了):
# "not needed / not wanted". They count as forward negations too.
POST_NEGATIONS: tuple[str, ...] = (
    "不用", "不需要", "无需", "无须", "不必", "没必要", "用不着", "不要", "暂不", "不考虑", "不想", "别",
)
# Negation words that jieba keeps as one token, added to the configured ones.
EXTRA_NEGATIONS: tuple[str, ...] = (
    "从没", "从来没", "从不", "没想", "没想过", "尚未", "毫无", "毫不", "暂无", "无意", "并不", "绝不", "绝不会",
    "决不", "决不会", "永不", "再也不", "不算",
)
# Words that contain a negation character but do not negate what follows.
NEUTRAL_WORDS: tuple[str, ...] = (
    "不知道", "不清楚", "不确定", "不一定", "不了解", "不明白", "没问题", "没办法", "不只", "不光",
    "要不", "要不然",
)
# Everyday compounds missing from jieba's dictionary whose absence makes a keyword appear
# (对手机壳 would otherwise segment as 对手/机壳).
EXTRA_WORDS: tuple[str, ...] = ("手机壳", "手机膜")
# A negation after one of these (with no consequence marker in between) is part of a condition.
CONDITION_OPENERS = frozenset(
    {"如果", "要是", "假如", "假设", "假若", "若", "若是", "倘若", "如若", "万一", "一旦", "只要", "除非"}
)
# A negation followed by one of these in the same clause is the condition of a demand.
CONDITION_CLOSERS = frozenset({"就", "的话", "否则", "不然", "那么"})
# "再不降价…": 再 right before the negation makes it conditional.
CONDITION_PREFIX = "再"
# Tokens allowed between a negation and the keyword it negates (either direction).
MAX_NEGATION_GAP = 3
# Minimum frequency for keywords and negations in the private dictionary, so that a rare or
# missing word still wins over chance neighbours (友商报的 -> 友商/报/的, not 友/商报/的).
MIN_WORD_FREQ = 100
# Four-character idioms (POS tag "i" in jieba's dictionary) are opaque: their parts lose their
# literal meaning (便宜行事). Shorter "i" entries are mostly literal phrases (打折扣, 讨便宜).
IDIOM_TAG = "i"
IDIOM_MIN_LEN = 4
# Distinct stretches whose jieba tokens an engine keeps (each entry is a few hundred bytes).
SEGMENT_CACHE_SIZE = 4096

_DELIMS = frozenset(CLAUSE_DELIMITERS)
_CLAUSE_RE = re.compile("[^" + re.escape(CLAUSE_DELIMITERS) + "]+")
_HAN_WORD_RE = jieba.re_han_default
_CJK_WORD_RE = re.compile("[\u4e00-\u9fd5]+")

if any(_HAN_WORD_RE.fullmatch(ch) for ch in CLAUSE_DELIMITERS):  # pragma: no cover - config guard
    raise RuntimeError("clause delimiters must be characters jieba never joins to a word")


class RuleLike(Protocol):
    """What the engine needs from a rule (bot.config.RuleConfig satisfies it)."""

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


@dataclass(frozen=True)
class _Rule:
    name: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...]


# A segmented clause: token words and their start offsets in the text.
_Tokens = tuple[Sequence[str], list[int]]
# A keyword mention: keyword, start offset, index of its first and last token.
_Mention = tuple[str, int, int, int]

_lock = threading.Lock()
_base: jieba.Tokenizer | None = None
_idioms: frozenset[str] | None = None


def _base_tokenizer() -> jieba.Tokenizer:
    """Return the process-wide tokenizer with jieba's default dictionary (loaded once)."""
    global _base
    with _lock:
        if _base is None:
            tok = jieba.Tokenizer()
            tok.initialize()
            _base = tok
        return _base


def _idiom_words() -> frozenset[str]:
    """Return the idioms of jieba's dictionary, at least IDIOM_MIN_LEN long (read once per process)."""
    global _idioms
    with _lock:
        if _idioms is None:
            text = resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8")
            entries = (line.split(" ") for line in text.splitlines())
            _idioms = frozenset(e[0] for e in entries if e[-1] == IDIOM_TAG and len(e[0]) >= IDIOM_MIN_LEN)
        return _idioms


@lru_cache(maxsize=4)  # each private dictionary costs ~15 MB
def _tokenizer_for(words: tuple[str, ...]) -> tuple[jieba.Tokenizer, int]:
    """Return a private tokenizer (shared base dictionary + `words`) and its longest word length."""
    base = _base_tokenizer()
    tok = jieba.Tokenizer()
    tok.FREQ = dict(base.FREQ)
    tok.total = base.total
    tok.initialized = True
    for word in words:
        if tok.FREQ.get(word, 0) < MIN_WORD_FREQ:
            tok.add_word(word, max(MIN_WORD_FREQ, tok.suggest_freq(word)))
    return tok, max(map(len, tok.FREQ))


def _clean(words: Iterable[str]) -> tuple[str, ...]:
    """Strip, drop empties and duplicates, keep order."""
    return tuple(dict.fromkeys(w.strip() for w in words if w and w.strip()))


def _by_first_char(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Index words by first character, longest first."""
    index: dict[str, list[str]] = {}
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        index.setdefault(word[0], []).append(word)
    return {ch: tuple(ws) for ch, ws in index.items()}


def _first_char_class(words: Iterable[str]) -> re.Pattern[str]:
    """Regex matching one character that begins one of `words` (never matches if there are none).

    Finding candidate starts with a character class and confirming with str.startswith is
    cheaper than a zero-width lookahead over the whole alternation at every position.
    """
    firsts = "".join(sorted({w[0] for w in words}))
    return re.compile("[" + re.escape(firsts) + "]" if firsts else "(?!)")


def _alternation(words: Iterable[str]) -> str:
    """Regex alternation of literal words, longest first."""
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


class KeywordEngine:
    """Scan customer messages for rule keywords; cheap to rebuild, safe to share between threads."""

    def __init__(self, rules: Sequence[RuleLike], negations: Sequence[str]) -> None:
        self._rules = tuple(_Rule(r.name, _clean(r.keywords), _clean(r.exclude)) for r in rules)
        kw_rules: dict[str, list[int]] = {}
        for i, rule in enumerate(self._rules):
            for kw in rule.keywords:
                kw_rules.setdefault(kw, []).append(i)
        self._kw_rules = {kw: tuple(ids) for kw, ids in kw_rules.items()}
        self._kw_index = _by_first_char(self._kw_rules)
        self._post = frozenset(POST_NEGATIONS)
        self._neg = frozenset(_clean(negations)) | frozenset(EXTRA_NEGATIONS) | self._post
        self._neg_index = _by_first_char(self._neg | set(NEUTRAL_WORDS))
        any_kw = _alternation(self._kw_rules)
        self._kw_any = re.compile(any_kw) if self._kw_rules else None  # the prefilter
        self._kw_start = _first_char_class(self._kw_rules)  # where a keyword may start
        self._neg_start = _first_char_class(self._neg)  # where a negation may start
        lexicon = set(self._kw_rules) | self._neg | set(NEUTRAL_WORDS) | set(EXTRA_WORDS)
        self._tok, self._max_word_len = _tokenizer_for(tuple(sorted(lexicon)))
        self._freq: dict[str, int] = self._tok.FREQ
        self._idioms = _idiom_words()
        self._solid = frozenset(kw for kw in self._kw_rules if self._is_solid(kw))
        self._segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    def _is_solid(self, kw: str) -> bool:
        """True if jieba always keeps `kw` as one token once nothing crosses its edges."""
        return (
            len(kw) > 1
            and _CJK_WORD_RE.fullmatch(kw) is not None
            and self._tok.lcut(kw, HMM=False) == [kw]
        )

    def scan(self, text: str) -> list[Hit]:
        """Return firing hits sorted by start, at most one per (rule, start)."""
        prefilter = self._kw_any
        if prefilter is None or not text or prefilter.search(text) is None:
            return []
        hits: list[Hit] = []
        for clause in _CLAUSE_RE.finditer(text):
            cs, ce = clause.span()
            if prefilter.search(text, cs, ce) is not None:
                hits.extend(self._scan_clause(text, cs, ce, None))
        return _finalize(hits)

    def rules_fired(self, text: str) -> list[str]:
        """Return the sorted unique names of the rules that fire on `text`."""
        return sorted({hit.rule for hit in self.scan(text)})

    def reference_hits(self, text: str) -> list[Hit]:
        """Slow path: segment the whole text with jieba, then scan every clause."""
        words = self._tok.lcut(text, HMM=False)
        hits: list[Hit] = []
        clause_words: list[str] = []
        clause_starts: list[int] = []
        pos = 0
        for word in [*words, "\n"]:
            if word[0] in _DELIMS:
                if clause_words:
                    cs, ce = clause_starts[0], pos
                    hits.extend(self._scan_clause(text, cs, ce, (clause_words, clause_starts)))
                clause_words, clause_starts = [], []
            else:
                clause_words.append(word)
                clause_starts.append(pos)
            pos += len(word)
        return _finalize(hits)

    def _segment(self, text: str, start: int, end: int) -> _Tokens:
        """Segment text[start:end]; offsets are relative to the whole text.

        jieba's tokens depend only on the string (an engine's dictionary never changes after
        construction), and the stretches sent here repeat in chat (友商报, 报价单发), so they are
        cached per engine. The cached words are a tuple: callers cannot alter a shared entry.
        """
        piece = text[start:end]
        entry = self._segments.get(piece)
        if entry is None:
            entry = self._segment_uncached(piece)
        words, offsets = entry
        return words, [start + offset for offset in offsets]

    def _segment_uncached(self, piece: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Segment `piece` with jieba and store its tokens; the bounded cache is emptied when full."""
        words = tuple(self._tok.lcut(piece, HMM=False))
        offsets = []
        pos = 0
        for word in words:
            offsets.append(pos)
            pos += len(word)
        if len(self._segments) >= SEGMENT_CACHE_SIZE:
            self._segments.clear()  # simple and thread-safe enough: a racing reader just recomputes
        entry = self._segments[piece] = (words, tuple(offsets))
        return entry

    def _scan_clause(self, text: str, cs: int, ce: int, tokens: _Tokens | None) -> list[Hit]:
        """Return the hits of clause text[cs:ce].

        The reference path passes the clause's tokens. The fast path segments as little as it can
        while getting the same tokens: nothing when every occurrence is provably one whole token,
        a short window around the undecided ones when no negation can matter, else the clause.
        """
        found = self._occurrences(text, cs, ce)
        if not found:
            return []
        scope = _NO_NEGATION
        if tokens is not None:
            mentions = self._mentions(tokens, found)
            scope = self._negations(text, tokens, ce) if mentions else _NO_NEGATION
        else:
            proven = [self._is_proven(text, kw, s, cs, ce) for kw, s in found]
            if self._negations_inert(text, cs, ce, found, proven):
                mentions = self._mentions_in_windows(text, cs, ce, found, proven)
            else:
                tokens = self._segment(text, cs, ce)
                mentions = self._mentions(tokens, found)
                scope = self._negations(text, tokens, ce) if mentions else _NO_NEGATION
        return self._hits(text[cs:ce], mentions, scope)

    def _occurrences(self, text: str, cs: int, ce: int) -> list[tuple[str, int]]:
        """All (keyword, start) substring occurrences inside the clause, overlaps included."""
        found = []
        for m in self._kw_start.finditer(text, cs, ce):
            s = m.start()
            for kw in self._kw_index[text[s]]:
                if text.startswith(kw, s, ce):  # within the clause
                    found.append((kw, s))
        return found

    def _is_proven(self, text: str, kw: str, s: int, cs: int, ce: int) -> bool:
        """True if jieba surely makes this occurrence one token: it is solid and no word crosses its edges."""
        return kw in self._solid and self._is_cut(text, s, cs, ce) and self._is_cut(text, s + len(kw), cs, ce)

    def _negations_inert(
        self, text: str, cs: int, ce: int, found: list[tuple[str, int]], proven: list[bool]
    ) -> bool:
        """True if no negation in the clause can cancel a keyword occurrence, whatever the tokens.

        A negation is inert when it is an A-not-A question, lies inside a proven keyword token,
        or follows every occurrence and cannot act backwards.
        """
        last_end = max(s + len(kw) for kw, s in found)
        for m in self._neg_start.finditer(text, cs, ce):
            p = m.start()
            if _is_a_not_a(text, p, cs, ce):
                continue
            ends = [p + len(n) for n in self._neg_index[text[p]] if text.startswith(n, p) and p + len(n) <= ce]
            if not any(text[p:end] in self._neg for end in ends):
                continue  # only a neutral word, or nothing, starts here
            longest = max(ends)
            if any(ok and s <= p and longest < s + len(kw) for (kw, s), ok in zip(found, proven, strict=True)):
                continue
            if p >= last_end and not any(text[p:end] in self._post for end in ends):
                continue
            return False
        return True

    def _mentions_in_windows(
        self, text: str, cs: int, ce: int, found: list[tuple[str, int]], proven: list[bool]
    ) -> list[_Mention]:
        """Whole-word mentions, segmenting only the stretch between forced cuts around undecided occurrences."""
        mentions: list[_Mention] = []
        window: tuple[int, int, _Tokens] | None = None
        for (kw, s), ok in zip(found, proven, strict=True):
            if ok:
                mentions.append((kw, s, -1, -1))
                continue
            if window is None or not window[0] <= s < s + len(kw) <= window[1]:
                lo = self._cut_before(text, s, cs, ce)
                hi = self._cut_after(text, s + len(kw), cs, ce)
                window = (lo, hi, self._segment(text, lo, hi))
            mentions.extend(self._mentions(window[2], [(kw, s)]))
        return mentions

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
        get = self._freq.get
        lowest = max(cs, pos - self._max_word_len)
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

    def _mentions(self, tokens: _Tokens, found: list[tuple[str, int]]) -> list[_Mention]:
        """Keep the occurrences that are whole-word mentions."""
        words, starts = tokens
        mentions = []
        for kw, s in found:
            e = s + len(kw)
            first = bisect_right(starts, s) - 1
            last = bisect_right(starts, e - 1) - 1
            if self._is_word(words, starts, first, last, s, e):
                mentions.append((kw, s, first, last))
        return mentions

    def _is_word(self, words: Sequence[str], starts: list[int], first: int, last: int, s: int, e: int) -> bool:
        """True if text[s:e] is whole tokens, or the head or tail of one non-idiom compound token.

        The rest of the compound must itself be a dictionary word: 分期付款, 优惠政策, 价格便宜.
        """
        if starts[first] == s and starts[last] + len(words[last]) == e:
            return True
        word = words[first]
        if first != last or word in self._idioms or not self._freq.get(word):
            return False
        if starts[first] == s:
            rest = word[e - s :]
        elif starts[first] + len(word) == e:
            rest = word[: s - starts[first]]
        else:
            return False
        return bool(self._freq.get(rest))

    def _negations(self, text: str, tokens: _Tokens, ce: int) -> _NegationScope:
        """Find the clause's negations that really negate, and its condition spans."""
        words, starts = tokens
        ends = {st + len(w): i for i, (w, st) in enumerate(zip(words, starts, strict=True))}
        active = []
        condition_starts = [i for i, w in enumerate(words) if w in CONDITION_OPENERS]
        for i, word in enumerate(words):
            phrases = self._neg_index.get(word[0])
            if phrases is None:
                continue  # the common case: no negation or neutral word starts with this character
            match = self._negation_at(text, starts[i], phrases, ends)
            if match is None or match[0] in NEUTRAL_WORDS or _is_a_not_a(text, starts[i], starts[0], ce):
                continue
            phrase, last = match
            if _is_conditional(words, i, last):
                condition_starts.append(i)
            else:
                active.append((i, last, phrase in self._post))
        return _NegationScope(tuple(active), _condition_spans(words, condition_starts))

    @staticmethod
    def _negation_at(
        text: str, start: int, phrases: tuple[str, ...], ends: dict[int, int]
    ) -> tuple[str, int] | None:
        """Return (phrase, last token) of the longest phrase made of whole tokens from `start`."""
        for phrase in phrases:
            last = ends.get(start + len(phrase))
            if last is not None and text.startswith(phrase, start):
                return phrase, last
        return None

    def _hits(self, clause_text: str, mentions: list[_Mention], scope: _NegationScope) -> list[Hit]:
        """Turn non-negated mentions into hits of every rule whose excludes are absent from the clause."""
        hits = []
        for kw, s, first, last in mentions:
            if scope.negates(first, last):
                continue
            for ri in self._kw_rules[kw]:
                rule = self._rules[ri]
                if not rule.exclude or not any(phrase in clause_text for phrase in rule.exclude):
                    hits.append(Hit(rule.name, kw, s, s + len(kw)))
        return hits


@dataclass(frozen=True, slots=True)
class _NegationScope:
    """A clause's active negations (first token, last token, acts backwards) and its conditions.

    A condition runs from its opener (如果…, or a conditional negation) to the token that closes
    it (就, 的话…). A post-negation in the consequence does not reach back into the condition:
    不降价就别谈了 still asks for the price cut.
    """

    negations: tuple[tuple[int, int, bool], ...] = ()
    conditions: tuple[tuple[int, int], ...] = ()

    def negates(self, first: int, last: int) -> bool:
        """True if a negation closely precedes the mention, or a post-negation closely follows it."""
        for n_first, n_last, backwards in self.negations:
            if n_last < first and first - n_last - 1 <= MAX_NEGATION_GAP:
                return True
            if backwards and n_first > last and n_first - last - 1 <= MAX_NEGATION_GAP:
                if not any(start <= first < closer < n_first for start, closer in self.conditions):
                    return True
        return False


_NO_NEGATION = _NegationScope()


def _condition_spans(words: Sequence[str], starts: list[int]) -> tuple[tuple[int, int], ...]:
    """(start, closer) token spans of the conditions opening at `starts` and closed in the clause."""
    spans = []
    for start in sorted(starts):
        closer = next((j for j in range(start + 1, len(words)) if words[j] in CONDITION_CLOSERS), None)
        if closer is not None:
            spans.append((start, closer))
    return tuple(spans)


def _is_a_not_a(text: str, pos: int, cs: int, ce: int) -> bool:
    """True for the A-not-A question form (能不能, 有没有, 要不要): not a negation."""
    return cs < pos and pos + 1 < ce and text[pos - 1] == text[pos + 1]


def _is_conditional(words: Sequence[str], first: int, last: int) -> bool:
    """True if the negation at tokens first..last is part of a condition in its clause."""
    if first > 0 and words[first - 1] == CONDITION_PREFIX:
        return True
    if any(w in CONDITION_CLOSERS for w in words[last + 1 :]):
        return True
    for word in reversed(words[:first]):
        if word in CONDITION_CLOSERS:
            return False
        if word in CONDITION_OPENERS:
            return True
    return False


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


@lru_cache(maxsize=4)
def _cached_engine(rules: tuple[_SnapRule, ...], negations: tuple[str, ...]) -> KeywordEngine:
    """Build (and cache) an engine from a hashable snapshot of rules and negations."""
    return KeywordEngine(rules, negations)


def reference_scan(rules: Sequence[RuleLike], negations: Sequence[str], text: str) -> list[Hit]:
    """Slow path: segment the whole text with jieba (no prefilter, no shortcut); same semantics as scan."""
    snap = tuple(_SnapRule(r.name, r.kind, tuple(r.keywords), tuple(r.exclude)) for r in rules)
    return _cached_engine(snap, tuple(negations)).reference_hits(text)


def rules_test_report(engine: KeywordEngine, lines: Iterable[str]) -> Iterator[dict[str, object]]:
    """Yield {"text", "rules", "hits"} for each input line, in order (trailing newline removed)."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        hits = engine.scan(line)
        yield {
            "text": line,
            "rules": sorted({h.rule for h in hits}),
            "hits": [{"rule": h.rule, "keyword": h.keyword, "start": h.start, "end": h.end} for h in hits],
        }
