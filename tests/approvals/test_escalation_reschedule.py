"""A row checked before its time is rescheduled, not dropped: a to-do or claimable to-do whose check
came early (written with an early next check, or a tick that ran ahead) must still be chased when its
time comes. Ticks use a fixed clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from storage.db import transaction
from storage.models import Todo
from tests.approvals.conftest import Chat
from tests.approvals.test_escalation import add_todo, titles
from tests.conftest import NOW

H = timedelta(hours=1)


def _check_now(chat: Chat, at) -> None:
    with transaction(chat.factory) as s:
        s.execute(update(Todo).values(next_check_at=at))


def test_a_todo_checked_before_its_due_time_still_reminds_the_owner_at_due(chat: Chat) -> None:
    todo = add_todo(chat, due=NOW + 2 * H, next_check=NOW)
    assert chat.tick(NOW) == []  # early: nothing yet
    assert chat.tick(NOW + 2 * H - timedelta(minutes=1)) == []  # rescheduled to the due time, not before
    assert chat.tick(NOW + 2 * H) == [f"todo_sla: T{todo}: level 1 -> zhangsan"]
    assert titles(chat, "zhangsan") == [f"待办到期提醒：T{todo}"]


def test_a_reminded_todo_checked_early_still_reaches_the_manager_a_day_later(chat: Chat) -> None:
    todo = add_todo(chat, due=NOW + 2 * H)
    chat.tick(NOW + 2 * H)  # level 1: the owner
    assert _row(chat, todo).next_check_at == NOW + 26 * H  # the manager's turn, a day after due
    _check_now(chat, NOW + 3 * H)  # a check ahead of time
    assert chat.tick(NOW + 3 * H) == []
    assert _row(chat, todo).next_check_at == NOW + 26 * H  # back on due + one step
    assert chat.tick(NOW + 26 * H - timedelta(minutes=1)) == []
    assert chat.tick(NOW + 26 * H) == [f"todo_sla: T{todo}: level 2 -> lisi"]
    assert titles(chat, "lisi") == [f"待办逾期一级升级：T{todo} 已逾期 1 天"]


def test_an_unclaimed_todo_checked_early_reaches_the_director_at_its_deadline(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW)
    assert chat.tick(NOW + H) == []
    assert titles(chat, "wangwu") == []
    chat.tick(NOW + 72 * H)
    assert titles(chat, "wangwu") == [f"待办无人认领超过 3 天：T{todo}"]


def _row(chat: Chat, todo_id: int) -> Todo:
    with chat.factory() as s:
        todo = s.get(Todo, todo_id)
        assert todo is not None
        return todo


def test_an_owned_todo_without_a_due_date_is_checked_once_then_left_alone(chat: Chat) -> None:
    todo = add_todo(chat, due=None, next_check=NOW)
    assert chat.tick(NOW) == []  # no failure either
    row = _row(chat, todo)
    assert (row.escalation_level, row.next_check_at) == (0, None)
    assert titles(chat, "zhangsan") == []


def test_an_unclaimed_todo_the_director_heard_of_is_not_checked_again(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW)
    chat.tick(NOW + 72 * H)
    _check_now(chat, NOW + 80 * H)  # due again (a hand edit, a restored backup)
    assert chat.tick(NOW + 80 * H) == []
    row = _row(chat, todo)
    assert (row.escalation_level, row.next_check_at) == (1, None)
    assert titles(chat, "wangwu") == [f"待办无人认领超过 3 天：T{todo}"]


def test_an_unclaimed_todo_checked_early_waits_for_exactly_its_deadline(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW)
    assert chat.tick(NOW + H) == []
    row = _row(chat, todo)
    assert (row.escalation_level, row.next_check_at) == (0, NOW + 72 * H)


def test_the_unclaimed_card_names_the_role_the_limit_and_the_todo(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="finance", created=NOW, next_check=NOW)
    chat.tick(NOW + 72 * H)
    [card] = chat.cards_for("wangwu")
    assert card.key == f"T{todo}"
    assert card.lines == ("这条需要「财务」认领的待办已经 3 天 没有人认领（时限 72 小时）。", "事项：给客户寄样品",
                          f"请指定负责人：让对方回复「认领 T{todo}」。")


def test_a_todo_at_the_top_of_the_chain_is_not_checked_again(chat: Chat) -> None:
    todo = add_todo(chat, due=NOW + 2 * H)
    chat.tick(NOW + 2 * H + 48 * H)  # owner, lisi, wangwu: the top
    assert _row(chat, todo).next_check_at is None
    _check_now(chat, NOW + 60 * H)
    assert chat.tick(NOW + 60 * H) == []
    row = _row(chat, todo)
    assert (row.escalation_level, row.next_check_at) == (3, None)


def test_a_todo_with_neither_owner_nor_role_is_checked_once_then_left_alone(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role=None, due=NOW, next_check=NOW)
    assert chat.tick(NOW + H) == []  # nobody to chase, and no failure
    assert _row(chat, todo).next_check_at is None
