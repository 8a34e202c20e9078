"""Typed input that would break a handler later gets an immediate Chinese reply and stores nothing.

These failed only on PostgreSQL before (integer overflow, NUL in text, an over-long name): run this
file with SALESBOT_TEST_DATABASE_URL set too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import Approval, Customer, InboundItem, Message
from tests.approvals.conftest import Chat

LONG_NAME = "华" * 300


def _count(chat: Chat, model) -> int:
    with chat.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _all_done(chat: Chat) -> bool:
    with chat.factory() as s:
        return set(s.scalars(select(InboundItem.status))) == {"done"}


@pytest.mark.parametrize("text, says", [
    ("完成 T99999999999999999999999", "太长"),
    ("认领 T99999999999999999999999", "太长"),
    ("应对 R99999999999999999999999", "太长"),
    ("审批 A99999999999999999999999", "A17"),
])
def test_an_overlong_code_gets_an_immediate_reply(chat: Chat, text, says):
    [reply] = chat.say("zhangsan", text)
    assert says in reply.text()
    assert _all_done(chat)  # answered at once, not retried for 15 minutes


def test_a_note_with_a_nul_character_is_refused_and_not_stored(chat: Chat):
    chat.add_customer("华为科技")
    chat.say("zhangsan", "关联 华为科技")
    [reply] = chat.say("zhangsan", "客户说\x00下周签")
    assert "NUL" in reply.text() and "请删除" in reply.text()
    assert _count(chat, Message) == 0 and _all_done(chat)


def test_a_name_with_a_nul_character_is_refused(chat: Chat):
    [reply] = chat.say("zhangsan", "关联 华为\x00科技")
    assert "NUL" in reply.text()
    assert _count(chat, Customer) == 0 and _all_done(chat)


@pytest.mark.parametrize("text", [f"关联 {LONG_NAME}", f"新客户 {LONG_NAME}", f"报价 {LONG_NAME} 680000"])
def test_a_300_character_customer_name_is_refused(chat: Chat, text):
    [reply] = chat.say("zhangsan", text)
    assert "客户名太长（300 个字）" in reply.text() and "最多 200 个字" in reply.text()
    assert _count(chat, Customer) == 0 and _count(chat, Approval) == 0 and _all_done(chat)


def test_a_zero_width_look_alike_links_the_existing_customer(chat: Chat):
    existing = chat.add_customer("华为科技")
    [reply] = chat.say("zhangsan", "关联 华\u200b为科技")
    assert "华为科技" in reply.text() and "新建" not in reply.title
    with chat.factory() as s:
        assert s.scalars(select(Customer.id)).all() == [existing]


@pytest.mark.parametrize("typed, stored", [("华为\u3000\u3000科技\u200d", "华为 科技"),
                                           ("\u00a0华为  科技\ufeff", "华为 科技"), ("ＡＢＣ科技", "ABC科技")])
def test_names_are_normalised_before_they_are_stored(chat: Chat, typed, stored):
    chat.say("zhangsan", f"新客户 {typed}")
    with chat.factory() as s:
        assert s.scalars(select(Customer.name)).one() == stored


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200c\ufeff", "\x07"])
def test_an_invisible_name_gets_a_chinese_error(chat: Chat, invisible):
    [reply] = chat.say("zhangsan", f"关联 {invisible}")
    assert "客户名" in reply.text()
    assert _count(chat, Customer) == 0
