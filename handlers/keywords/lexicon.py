"""The words the engine reads with: jieba's dictionary (loaded lazily, once) and the admin's word lists.

jieba is imported and its dictionary loaded only when a line first needs segmenting, so a command
that scans lines without any keyword never pays for it.
"""

from __future__ import annotations

import logging
import marshal
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
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


@dataclass(frozen=True)
class ScanWords:
    """The admin's word lists from `[scan]` (and per-rule `senses`), as the engine reads them.

    compound_negations: negation words jieba keeps as one token (从没, 绝不会), added to `negations`.
    after_negations: words that also cancel a keyword mentioned before them (样品不用寄了, 分期就算了).
    neutral_words: words with a negation character that negate nothing (不得不, 不但, 没想到).
    extra_words: everyday compounds missing from jieba's dictionary (手机壳), so no keyword appears in them.
    senses: keyword -> words that, in the same clause, show the keyword is used in another sense.
    event_verbs: verbs of things happening (收到, 寄): a negation before one negates the event, not the
        keyword after it (还没收到样品 still asks for the sample).
    """

    compound_negations: tuple[str, ...] = ()
    after_negations: tuple[str, ...] = ()
    neutral_words: tuple[str, ...] = ()
    extra_words: tuple[str, ...] = ()
    senses: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    event_verbs: tuple[str, ...] = ()


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
    """Return the process-wide tokenizer with jieba's full default dictionary (loaded once, from jieba's cache).

    Only needed to build the partitioned cache; engines read `dictionary_parts()`.
    """
    global _base
    with _lock:
        if _base is None:
            tok = _jieba().Tokenizer()
            tok.initialize()
            _base = tok
        return _base


@dataclass(frozen=True)
class DictionaryParts:
    """jieba's default dictionary split by first character, each part a marshalled dict.

    jieba's segmentation of a string only looks up words starting with one of its characters, so an
    engine loads the parts of the characters it meets: one line costs a few parts, not 500 000 words.
    """

    total: int
    max_word_len: int
    parts: dict[str, bytes]
    idioms: frozenset[str]


_parts: DictionaryParts | None = None
_PARTS_VERSION = 2


def _parts_cache_path() -> Path:
    dict_file = Path(str(resources.files("jieba").joinpath("dict.txt")))
    stamp = f"{dict_file.stat().st_size}-{int(dict_file.stat().st_mtime)}"
    return Path(tempfile.gettempdir()) / f"salesbot-jieba-parts-{_PARTS_VERSION}-{stamp}.cache"


def dictionary_parts() -> DictionaryParts:
    """The partitioned dictionary: read from its cache file, else built from jieba's once and cached."""
    global _parts
    with _lock:
        if _parts is not None:
            return _parts
        path = _parts_cache_path()
        try:
            with path.open("rb") as fh:
                total, max_len, parts, idioms = marshal.load(fh)
            _parts = DictionaryParts(total, max_len, parts, idioms)
            return _parts
        except (OSError, EOFError, ValueError, TypeError):
            pass  # no cache yet, or a broken one: rebuild
    base = base_tokenizer()
    grouped: dict[str, dict[str, int]] = {}
    for word, freq in base.FREQ.items():
        grouped.setdefault(word[0], {})[word] = freq
    text = resources.files("jieba").joinpath("dict.txt").read_text(encoding="utf-8")
    built = DictionaryParts(base.total, max(map(len, base.FREQ)),
                            {ch: marshal.dumps(words) for ch, words in grouped.items()},
                            frozenset(_IDIOM_LINE.findall(text)))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            marshal.dump((built.total, built.max_word_len, built.parts, built.idioms), fh)
        os.replace(tmp, path)
    except OSError as exc:  # pragma: no cover - a read-only temp dir only costs start-up time
        logging.getLogger(__name__).warning("cannot write the dictionary cache %s: %s", path, exc)
    with _lock:
        _parts = _parts or built
        return _parts


def idiom_words() -> frozenset[str]:
    """The idioms of jieba's dictionary, at least IDIOM_MIN_LEN long (kept in the dictionary cache)."""
    return dictionary_parts().idioms


class PrivateTokenizer:
    """A jieba tokenizer over the shared dictionary parts plus an engine's own words, filled on demand.

    Call `ensure(text)` before segmenting `text` or looking up words that start inside it.
    """

    def __init__(self, words: tuple[str, ...]) -> None:
        self._parts = dictionary_parts()
        tok = _jieba().Tokenizer()
        tok.FREQ = {}
        tok.total = self._parts.total
        tok.initialized = True
        self.tok = tok
        self.freq: dict[str, int] = tok.FREQ
        self._loaded: set[str] = set()
        self._fill = threading.Lock()
        for word in words:
            self.ensure(word)
            if tok.FREQ.get(word, 0) < MIN_WORD_FREQ:
                tok.add_word(word, max(MIN_WORD_FREQ, tok.suggest_freq(word)))
        self.max_word_len = max(self._parts.max_word_len, *map(len, words)) if words else self._parts.max_word_len

    def ensure(self, text: str) -> None:
        """Load the dictionary parts of the characters of `text` not loaded yet."""
        missing = set(text).difference(self._loaded)
        if not missing:
            return
        with self._fill:
            for ch in missing:
                if ch in self._loaded:
                    continue
                blob = self._parts.parts.get(ch)
                if blob is not None:
                    freq = self.freq
                    for word, value in marshal.loads(blob).items():
                        freq.setdefault(word, value)  # an engine word added earlier keeps its frequency
                self._loaded.add(ch)

    def lcut(self, text: str) -> list[str]:
        self.ensure(text)
        return list(self.tok.cut(text, HMM=False))


@lru_cache(maxsize=4)
def tokenizer_for(words: tuple[str, ...]) -> PrivateTokenizer:
    """Return a private tokenizer (shared dictionary parts + `words`)."""
    return PrivateTokenizer(words)


HAN_WORD_RE = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)  # jieba.re_han_default
CJK_WORD_RE = re.compile("[\u4e00-\u9fd5]+")
