"""Escalation dedupe, the second guard: when the level a tick claimed is lost (a database restored
from a backup taken mid-escalation, a hand edit), the next tick re-raises the same level — and the
per-level dedupe keys still let nobody hear it twice. Ticks use a fixed clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from storage.db import transaction
from storage.models import ApprovalStep, Customer, Todo
from tests.approvals.conftest import Chat
from tests.approvals.test_escalation import add_todo, submit, titles
from tests.conftest import NOW

H = timedelta(hours=1)
D = timedelta(days=1)


def _forget_levels(chat: Chat, model, at) -> None:
    with transaction(chat.factory) as s:
        s.execute(update(model).values(escalation_level=0, next_check_at=at))


def test_a_lost_step_level_does_not_escalate_or_remind_twice(chat: Chat) -> None:
    submit(chat)
    assert chat.tick(NOW + 25 * H) == ["approval_sla: A1 step 1: level 1 -> ['wangwu']"]
    sent = chat.outbox_count()
    _forget_levels(chat, ApprovalStep, NOW + 25 * H)
    assert chat.tick(NOW + 25 * H) == ["approval_sla: A1 step 1: level 1 -> ['wangwu']"]  # claimed again...
    assert chat.outbox_count() == sent  # ...but nothing queued twice
    assert titles(chat, "wangwu") == ["审批超时一级升级：A1 已等 1 天 1 小时"]
    assert titles(chat, "lisi")[-1] == "审批提醒（第 1 次）：A1 已等 1 天 1 小时"
    assert len([t for t in titles(chat, "lisi") if t.startswith("审批提醒")]) == 1


def test_a_lost_todo_level_does_not_remind_or_escalate_twice(chat: Chat) -> None:
    todo = add_todo(chat, due=NOW + 2 * H)
    chat.tick(NOW + 26 * H)  # due, then a day overdue: the owner and lisi hear once each
    before = (titles(chat, "zhangsan"), titles(chat, "lisi"))
    assert before[1] == [f"待办逾期一级升级：T{todo} 已逾期 1 天"]
    _forget_levels(chat, Todo, NOW + 26 * H)
    chat.tick(NOW + 26 * H)
    assert (titles(chat, "zhangsan"), titles(chat, "lisi")) == before


def test_a_lost_unclaimed_level_does_not_tell_the_director_twice(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW)
    chat.tick(NOW + 72 * H)
    _forget_levels(chat, Todo, NOW + 72 * H)
    chat.tick(NOW + 72 * H)
    assert titles(chat, "wangwu") == [f"待办无人认领超过 3 天：T{todo}"]


def test_a_lost_silence_level_does_not_remind_the_owner_twice(chat: Chat) -> None:
    chat.add_customer("华为技术有限公司", last_activity=NOW - 31 * D)
    chat.tick(NOW)
    with transaction(chat.factory) as s:
        s.execute(update(Customer).values(silence_level=0))
    chat.tick(NOW)
    assert titles(chat, "zhangsan") == ["客户沉默提醒：华为技术有限公司 已 31 天无动态"]
