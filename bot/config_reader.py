"""The typed-value reader every config section reader uses, and the packaged default config text.

`Reader` reads one value at a time out of a raw TOML table and collects problems (in Chinese, for the
admins who edit the file) instead of raising; `bot.config.settings_from_mapping` raises them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from bot.config_messages import type_zh, unknown_key_message
from handlers.config_errors import ConfigProblem


class Reader:
    """Reads typed values out of a raw TOML table, collecting problems instead of raising."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str) -> None:
        # One mistake, one message: a key already reported is not reported again by a later check
        # that only fails because of the first problem (a bad type, then "needs at least one").
        if any(p.key == key for p in self.problems):
            return
        self.problems.append(ConfigProblem(self.source, key, message))

    def table(self, raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, Mapping):
            self.problem(key, f"必须是一个表（[{key}] 段），现在是{type_zh(value)}")
            return {}
        return value

    def str_(self, raw: Mapping[str, Any], key: str, prefix: str, default: str = "") -> str:
        value = raw.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(f"{prefix}{key}", f"必须是字符串（用双引号括起来），现在是{type_zh(value)}")
            return default
        return value

    def opt_str(self, raw: Mapping[str, Any], key: str, prefix: str) -> str | None:
        return self.str_(raw, key, prefix) or None if key in raw else None

    def number(self, raw: Mapping[str, Any], key: str, prefix: str, default: Any, kind: type = int) -> Any:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = kind(value.strip())
            except ValueError:
                self.problem(f"{prefix}{key}", f"必须是数字，现在是 {value!r}")
                return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{prefix}{key}", f"必须是数字，现在是{type_zh(value)}")
            return default
        if kind is int and isinstance(value, float) and not value.is_integer():
            self.problem(f"{prefix}{key}", f"必须是整数，现在是 {value}")
            return default
        if value < 0:
            self.problem(f"{prefix}{key}", f"不能是负数，现在是 {value}")
            return default
        return kind(value)

    def str_list(self, raw: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{prefix}{key}", '必须是非空字符串组成的数组，例如 ["竞品", "友商"]')
            return ()
        return tuple(value)

    def unknown_keys(self, raw: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{prefix}{key}", unknown_key_message(key, allowed))


def default_config_text() -> str:
    """The packaged embedded default: default rules and approval chains, no platforms."""
    return resources.files("bot").joinpath("default_config.toml").read_text(encoding="utf-8")
