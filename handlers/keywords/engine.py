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

from handlers.keywords.lexicon import HAN_WORD_RE, ScanWords, clean
from handlers.keywords.mentions import Lexicon, Mention, MentionFinder, clause_of
from handlers.keywords.reading import CONSEQUENCE_MARKERS, Clause, Reader, Verdict

__all__ = ["Hit", "KeywordEngine", "Reading", "RuleLike", "reference_scan"]

# Characters that end a clause. ASCII "." is not one: in chat it is mostly a decimal point (3.5折).
CLAUSE_DELIMITERS = "，。！？；,!?;…～~ \t\r\n\u3000"
# Distinct clauses whose hits an engine keeps.
CLAUSE_CACHE_SIZE = 4096

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
        self.reader = Reader(forward, backward, neutral, senses, frozenset(clean(words.event_verbs)))
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
        self._finder = MentionFinder(self._words, self._kw_index, self._kw_start)
        self._clause_hits: dict[tuple[str, str | None], tuple[tuple[str, str, int], ...]] = {}

    @property
    def lex(self) -> Lexicon:
        return self._finder.lex

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
                if len(cache) >= CLAUSE_CACHE_SIZE:
                    cache.clear()
                cache[key] = found
            hits.extend(Hit(rule, kw, cs + rs, cs + rs + len(kw)) for rule, kw, rs in found)
        return _finalize(hits)

    def _clause_scan(self, text: str, cs: int, ce: int, nxt: tuple[int, int] | None) -> list[Hit]:
        """The hits of clause text[cs:ce], read with the next clause `nxt` (None if it cannot matter)."""
        found = self._finder.occurrences(text, cs, ce)
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
            for kw, s, _first, _last in self._finder.fast_mentions(text, cs, ce, found):
                hits.extend(Hit(self._rules[ri].name, kw, s, s + len(kw)) for ri in self._kw_rules[kw])
            return hits
        clause = clause_of(text, cs, ce, self._finder.segment(text, cs, ce))

        def following() -> Clause | None:
            return None if nxt is None else clause_of(text, nxt[0], nxt[1], self._finder.segment(text, *nxt))

        return self._read_hits(clause, self._finder.mentions(clause, found), following)

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
            found = self._finder.occurrences(text, cs, ce)
            if not found:
                continue
            mentions = self._finder.mentions(clause, found)
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
            mentions = self._finder.mentions(clause, [(kw, cs + s) for kw, s in occurrences])
            for _kw, _s, first, last in mentions:
                found += [(w, first - i if i < first else i - last) for i, w in enumerate(clause.words)
                          if i < first or i > last]
        return found

    # ------------------------------------------------------------------------------- reading

    def _read_hits(self, clause: Clause, mentions: list[Mention], following: Any) -> list[Hit]:
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
                    clauses.append((clause_of(text, cs, ce, (tuple(clause_words), clause_starts)), cs, ce))
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
