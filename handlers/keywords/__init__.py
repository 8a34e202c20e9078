"""Keyword engine: which rules a customer's message fires, and why.

- engine:  KeywordEngine: scan (fast path == reference path), explain, clause hit cache
- mentions: whole-word mentions from jieba's tokens, segmenting as little as possible
- reading: how a mention is read in its sentence (negations, conditions, questions, other senses)
- lexicon: jieba's dictionary, loaded lazily, and the admin's word lists (ScanWords)
- report:  `salesbot rules test` output, JSON and the Chinese --explain text
"""

from __future__ import annotations

from handlers.keywords.engine import Hit, KeywordEngine, Reading, RuleLike, reference_scan
from handlers.keywords.lexicon import ScanWords
from handlers.keywords.report import explain_lines, rules_test_json, rules_test_report

__all__ = [
    "Hit", "KeywordEngine", "Reading", "RuleLike", "ScanWords", "explain_lines", "reference_scan",
    "rules_test_json", "rules_test_report",
]
