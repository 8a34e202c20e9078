"""Money amounts as people type them in chat: 680000, 680,000, 68万, 6.8万, ￥680000, 68w, 1.2亿.

Parsing is generous about how a number is written and strict about what it means: a positive amount
with at most two decimals (fen) after the unit is applied, and below a sane ceiling.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

MAX_AMOUNT = Decimal("1000000000000")  # 1 万亿: far beyond any quote, well inside Numeric(16, 2)

_UNITS = {
    "": Decimal(1), "元": Decimal(1), "块": Decimal(1), "块钱": Decimal(1), "rmb": Decimal(1),
    "k": Decimal(1000), "千": Decimal(1000), "千元": Decimal(1000),
    "w": Decimal(10_000), "万": Decimal(10_000), "万元": Decimal(10_000), "万块": Decimal(10_000),
    "亿": Decimal(100_000_000), "亿元": Decimal(100_000_000),
}
_PREFIXES = ("￥", "¥", "rmb", "cny")
# digits with optional thousands separators (680,000 or 1,234,567.5) or plain digits with a decimal part
_NUMBER = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


class AmountError(ValueError):
    """Not an amount; the message (Chinese) says why."""


def parse_amount(text: str) -> Decimal:
    """The amount in yuan written in `text`, or AmountError with a Chinese explanation."""
    raw = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    raw = raw.replace("，", ",").replace("。", ".")
    for prefix in _PREFIXES:
        if raw.startswith(prefix):
            raw = raw[len(prefix):]
            break
    match = re.match(r"^([\d.,]+)(.*)$", raw)
    if not match or match.group(2) not in _UNITS or not _NUMBER.match(match.group(1)):
        raise AmountError(f"「{text}」不是金额。可以写 680000、680,000、68万、6.8万 或 ￥680000。")
    try:
        value = Decimal(match.group(1).replace(",", "")) * _UNITS[match.group(2)]
    except InvalidOperation:
        raise AmountError(f"「{text}」不是金额。") from None
    return _checked(value, text)


def _checked(value: Decimal, text: str) -> Decimal:
    if value <= 0:
        raise AmountError("金额必须大于 0。")
    if value >= MAX_AMOUNT:
        raise AmountError(f"金额「{text}」过大，请检查单位。")
    if value != value.quantize(Decimal("0.01")):
        raise AmountError(f"金额「{text}」精确到分即可（最多两位小数）。")
    return value.quantize(Decimal("0.01"))


def looks_like_amount(text: str) -> bool:
    try:
        parse_amount(text)
    except AmountError:
        return False
    return True


def format_amount(value: Decimal | float | int) -> str:
    """￥680,000 or ￥6,800.50 (no trailing .00)."""
    amount = Decimal(value).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}"
    return "￥" + (text[:-3] if text.endswith(".00") else text)
