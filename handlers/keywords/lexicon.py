"""The words the engine reads with: jieba's dictionary (loaded lazily, once) and the admin's word lists.

jieba is imported and its dictionary loaded only when a line first needs segmenting, so a command
that scans lines without any keyword never pays for it.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jieba

# Minimum frequency for keywords and negations in the private dictionary, so that a rare or
# missing word still wins over chance neighbours (友商报的 -> 友商/报/的, not 友/商报/的).
MIN_WORD_FREQ = 100
# Four-character idioms (POS tag "i" in jieba's dictionary) are opaque: their parts lose their
# literal meaning (便宜行事). Shorter "i" entries are mostly literal phrases (打折扣, 讨便宜).
IDIOM_MIN_LEN = 4
_IDIOM_LINE = re.compile(rf"^(\S{{{IDIOM_MIN_LEN},}}) \d+ i$", re.M)

_lock = threading.Lock()
_base: jieba.Tokenizer | None = None
_idioms: frozenset[str] | None = None


@dataclass(frozen=True)
class ScanWords:
    """The admin's word lists from `[scan]` (and per-rule `senses`), as the engine reads them.

    compound_negations: negation words jieba keeps as one token (从没, 绝不会), added to `negations`.
    after_negations: words that also cancel a keyword mentioned before them (样品不用寄了, 分期就算了).
    neutral_words: words with a negation character that negate nothing (不得不, 不但, 没想到).
    extra_words: everyday compounds missing from jieba's dictionary (手机壳), so no keyword appears in them.
    senses: keyword -> words that, in the same clause, show the keyword is used in another sense.
    """

    compound_negations: tuple[str, ...] = ()
    after_negations: tuple[str, ...] = ()
    neutral_words: tuple[str, ...] = ()
    extra_words: tuple[str, ...] = ()
    senses: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


def clean(words: Iterable[str]) -> tuple[str, ...]:
    """Strip, drop empties and duplicates, keep order."""
    return tuple(dict.fromkeys(w.strip() for w in words if w and w.strip()))


def _jieba() -> Any:
    with warnings.catch_warnings():
        # jieba 0.42.1 has invalid escape sequences in its regex literals; compiling it warns.
        warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
        warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
        import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba


def base_tokenizer() -> jieba.Tokenizer:
    """Return the process-wide tokenizer with jieba's default dictionary (loaded once, from jieba's cache)."""
    global _base
    with _lock:
        if _base is None:
            tok = _jieba().Tokenizer()
            tok.initialize()
            _base = tok
        return _base


def idiom_words() -> frozenset[str]:
    """Return the idioms of jieba's dictionary, at least IDIOM_MIN_LEN long (read once per process)."""
    global _idioms
    with _lock:
        if _idioms is None:
            text = resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8")
            _idioms = frozenset(_IDIOM_LINE.findall(text))
        return _idioms


@lru_cache(maxsize=4)  # each private dictionary costs ~15 MB
def tokenizer_for(words: tuple[str, ...]) -> tuple[jieba.Tokenizer, int]:
    """Return a private tokenizer (shared base dictionary + `words`) and its longest word length."""
    base = base_tokenizer()
    tok = _jieba().Tokenizer()
    tok.FREQ = dict(base.FREQ)
    tok.total = base.total
    tok.initialized = True
    for word in words:
        if tok.FREQ.get(word, 0) < MIN_WORD_FREQ:
            tok.add_word(word, max(MIN_WORD_FREQ, tok.suggest_freq(word)))
    return tok, max(map(len, tok.FREQ))


HAN_WORD_RE = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)  # jieba.re_han_default
CJK_WORD_RE = re.compile("[\u4e00-\u9fd5]+")
