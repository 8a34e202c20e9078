"""What a fired rule found: the keyword engine of the current settings, a rule's hits in one message,
and the customer's words quoted with the keywords marked. Shared by risks and to-dos."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from handlers.keywords import Hit, KeywordEngine, ScanWords
from handlers.model import InboundMessage
from handlers.settings import BusinessSettings, RuleConfig, ScanConfig

QUOTE_CHARS = 80  # longer words are cut to a window around the first marked keyword


@lru_cache(maxsize=4)
def _engine(rules: tuple[RuleConfig, ...], scan: ScanConfig) -> KeywordEngine:
    return KeywordEngine(rules, scan.negations, reading_words(scan))


def reading_words(scan: ScanConfig) -> ScanWords:
    """The `[scan]` word lists the engine reads mentions with."""
    return ScanWords(scan.compound_negations, scan.after_negations, scan.neutral_words, scan.extra_words,
                     scan.senses, scan.event_verbs)


def engine_for(settings: BusinessSettings) -> KeywordEngine:
    """The keyword engine for these settings; rebuilt only when the rules or [scan] change."""
    global _last_engine
    last = _last_engine
    if last is not None and last[0] is settings.rules and last[1] is settings.scan:
        return last[2]  # the same settings objects: skip hashing every rule (a batch asks per message)
    engine = _engine(settings.rules, settings.scan)
    _last_engine = (settings.rules, settings.scan, engine)
    return engine


_last_engine: tuple[tuple[RuleConfig, ...], ScanConfig, KeywordEngine] | None = None


_prescanned = threading.local()
# prescanned texts kept per thread: enough for a batch of archived messages handled in one transaction
PRESCAN_KEPT = 512


def prescan(settings: BusinessSettings, text: str) -> None:
    """Scan `text` now, before the handler's write transaction opens (on SQLite that transaction holds
    the database's write lock, and a long note would stall every webhook meanwhile); scan_words then
    takes the result instead of scanning inside the transaction. The last PRESCAN_KEPT are kept, so a
    batch can be scanned first and handled after."""
    kept: dict[str, tuple[KeywordEngine, list[Hit]]] | None = getattr(_prescanned, "kept", None)
    if kept is None:
        kept = _prescanned.kept = {}
    key = text[:settings.scan.max_chars]  # only that much is scanned
    kept.pop(key, None)
    kept[key] = (engine_for(settings), _scan(settings, text))
    while len(kept) > PRESCAN_KEPT:
        del kept[next(iter(kept))]  # the oldest


def prescan_message(settings: Any, msg: InboundMessage) -> None:
    """The pipeline's preparer: prescan a message's words."""
    if msg.text.strip():
        prescan(settings, msg.text)


def scanned(settings: BusinessSettings, text: str) -> list[Hit]:
    """The hits of `text`: the prescan's if it was this text under this engine, else scanned now."""
    kept = getattr(_prescanned, "kept", None) or {}
    entry = kept.get(text[:settings.scan.max_chars])
    if entry is not None and entry[0] is engine_for(settings):
        return list(entry[1])
    return _scan(settings, text)


def _scan(settings: BusinessSettings, text: str) -> list[Hit]:
    # stored whole, scanned up to [scan] max_chars: a pasted contract must not cost seconds
    return engine_for(settings).scan(text[:settings.scan.max_chars])


def warm_up(settings: BusinessSettings) -> None:
    """Build the engine and load jieba's dictionary now (seconds), at start-up, not on the first message."""
    engine = engine_for(settings)
    engine.lex.ensure("".join(kw for rule in settings.rules for kw in rule.keywords))  # the dictionary parts
    words = [kw for rule in settings.rules for kw in rule.keywords[:1]]
    engine.scan("，".join(words) or "预热")


@dataclass(frozen=True)
class RuleHits:
    """The hits of one fired rule in one message."""

    rule: RuleConfig
    hits: tuple[Hit, ...]
    text: str

    @property
    def keyword(self) -> str:
        return self.hits[0].keyword

    def quote(self) -> str:
        return quote_words(self.text, [(h.start, h.end) for h in self.hits])


def quote_words(text: str, spans: Iterable[tuple[int, int]], limit: int = QUOTE_CHARS) -> str:
    """The words on one line with each span marked 【like this】, cut to a window around the first."""
    flat = re.sub(r"\s", " ", text)  # one line, same length: the spans still point at the keywords
    merged = _merge(sorted(spans))
    start, end = 0, len(flat)
    if len(flat) > limit:
        first = merged[0][0] if merged else 0
        start = max(0, min(first - limit // 3, len(flat) - limit))
        end = start + limit
    out, pos = [], start
    for s, e in merged:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        out += [flat[pos:s], "【", flat[s:e], "】"]
        pos = e
    out.append(flat[pos:end])
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(flat) else "")


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def spans_of(settings: BusinessSettings, rule: str, keyword: str, text: str) -> list[tuple[int, int]]:
    """Where a stored event's rule fires in its words now, else where its keyword occurs."""
    spans = [(h.start, h.end) for h in engine_for(settings).scan(text) if h.rule == rule]
    if spans or not keyword:
        return spans
    return [(m.start(), m.end()) for m in re.finditer(re.escape(keyword), text)]
