"""Amounts as reps type them: generous about the writing, strict about the meaning."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.amounts import AmountError, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("680000", "680000"),
        ("680,000", "680000"),
        ("68万", "680000"),
        ("6.8万", "68000"),
        ("￥680000", "680000"),
        ("¥680,000", "680000"),
        ("68w", "680000"),
        ("68W", "680000"),
        ("68万元", "680000"),
        ("680000元", "680000"),
        ("６８万", "680000"),  # full-width digits from a Chinese IME
        ("680，000", "680000"),  # full-width comma
        ("1.2亿", "120000000"),
        ("50k", "50000"),
        ("1999.5", "1999.5"),
    ],
)
def test_accepted_forms(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["很多", "abc", "0", "0万", "-5", "68万万", "6,80000", "1e5", "1.2.3", "万", "",
                                  "0.001", "68万abc", "99999999亿"])
def test_nonsense_is_refused_in_chinese(text: str) -> None:
    with pytest.raises(AmountError) as exc:
        parse_amount(text)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(exc.value))


def test_format() -> None:
    assert format_amount(Decimal("680000")) == "￥680,000"
    assert format_amount(Decimal("6800.5")) == "￥6,800.50"
