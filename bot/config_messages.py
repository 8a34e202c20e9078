"""Wording of config problems for the admins who edit the file: Chinese, keys as written, entries from 1.

The readers in bot.config say what is wrong; these helpers name the entry (`rules[1] (competitor)`),
a value's type, the allowed choices and the likely intended spelling of a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from handlers.timefmt import zone_of

_TYPES_ZH = {bool: "布尔值（true/false）", int: "整数", float: "小数", str: "字符串", list: "数组", dict: "表"}


def entry_label(section: str, number: int, entry: Any, name_key: str) -> str:
    """`rules[1] (competitor)`: the entry counted from 1 like a person does, with its name if it has one."""
    name = entry.get(name_key) if isinstance(entry, Mapping) else None
    if isinstance(name, str) and name.strip():
        return f"{section}[{number}] ({name.strip()})"
    return f"{section}[{number}]"


def type_zh(value: Any) -> str:
    """A TOML value's type as an admin calls it: 字符串, 整数, 数组..."""
    for kind, name in _TYPES_ZH.items():
        if type(value) is kind or (kind is dict and isinstance(value, Mapping)):
            return name
    return type(value).__name__


def one_of(choices: Iterable[str]) -> str:
    """`risk 或 todo`, `low、medium 或 high`."""
    items = list(choices)
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + " 或 " + items[-1]


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """`，是不是 'lisi'？` when one candidate is a likely intended spelling; '' otherwise."""
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f"，是不是 {close[0]!r}？" if close else ""


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    return f"没有这个键{did_you_mean(key, sorted(allowed)) or '（拼写错误？）'}"


def unknown_section_message(key: str, known: Iterable[str]) -> str:
    return f"没有这个段{did_you_mean(key, sorted(known)) or '（拼写错误？）'}"


def is_time_zone(name: str) -> bool:
    try:
        zone_of(name)
    except ValueError:
        return False
    return True
