"""Customer names typed in 关联 / 新客户: nothing visible left is refused with the command's own
example; a name exactly as long as the column is accepted."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Customer
from tests.approvals.conftest import Chat


def test_a_name_of_only_invisible_characters_is_refused_with_the_link_example(chat: Chat):
    [reply] = chat.say("zhangsan", "关联 \u200b\u3000\u200b")
    assert "客户名是空的（只有空格或不可见字符）。请写上客户名，例如「关联 华为技术有限公司」。" in reply.text()
    with chat.factory() as s:
        assert s.scalars(select(Customer)).all() == []


def test_a_200_character_name_fits(chat: Chat):
    name = "华" * 200
    chat.say("zhangsan", f"新客户 {name}")
    with chat.factory() as s:
        assert s.scalars(select(Customer.name)).all() == [name]
