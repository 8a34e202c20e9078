"""The SLA checks with a fixed clock: each escalation level happens once, whoever ticks and how often."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.runtime import Runtime, SettingsHolder
from scheduler.jobs import run_tick
from storage.db import make_engine, make_session_factory, transaction
from storage.models import ApprovalStep, AuditEntry, OutboxItem, Todo
from tests.approvals.conftest import Chat
from tests.conftest import NOW

HUAWEI = "华为技术有限公司"
H = timedelta(hours=1)
D = timedelta(days=1)


def titles(chat: Chat, user_id: str) -> list[str]:
    return [card.title for card in chat.cards_for(user_id)]


def submit(chat: Chat, who: str = "zhangsan", amount: str = "68万") -> None:
    chat.add_customer(HUAWEI, owner=who)
    chat.say(who, f"报价 {HUAWEI} {amount}")


# ------------------------------------------------------------------------------------------ approvals


def test_waiting_step_escalates_to_the_approvers_manager_once(chat: Chat) -> None:
    submit(chat)
    assert chat.tick(NOW + 23 * H) == []
    sent = chat.outbox_count()

    lines = chat.tick(NOW + 25 * H)
    assert lines == ["approval_sla: A1 step 1: level 1 -> ['wangwu']"]
    escalation = chat.cards_for("wangwu")[-1]
    assert escalation.title == "审批超时一级升级：A1 已等 1 天 1 小时"
    text = escalation.text()
    for expected in ("李四 还没有处理报价审批 A1（第 1/4 步），已等待 1 天 1 小时，时限 24 小时。",
                     f"客户：{HUAWEI}", "金额：￥680,000", "提交人：张三", "第 1 次超时升级（一级）"):
        assert expected in text
    reminder = chat.cards_for("lisi")[-1]
    assert reminder.title == "审批提醒（第 1 次）：A1 已等 1 天 1 小时"
    assert "已通知：王五。" in reminder.lines and reminder.buttons[0].command == "同意 A1"
    assert chat.outbox_count() == sent + 2

    # the same tick again, a later one before the next level, and one past twice the SLA: lisi has no
    # second-level manager, so nothing more is raised
    for at in (NOW + 25 * H, NOW + 30 * H, NOW + 49 * H, NOW + 100 * H):
        assert chat.tick(at) == []
    assert chat.outbox_count() == sent + 2
    assert titles(chat, "zhangsan") == ["已提交报价审批 A1"]  # escalations go up, not back to the rep


def test_twice_the_sla_goes_one_level_higher(chat_with_team_lead: Chat) -> None:
    chat = chat_with_team_lead  # xiaoming → zhangsan → lisi → wangwu
    submit(chat, "xiaoming", "30万")
    chat.tick(NOW + 25 * H)
    assert titles(chat, "lisi") == ["审批超时一级升级：A1 已等 1 天 1 小时"]
    assert titles(chat, "wangwu") == []

    chat.tick(NOW + 49 * H)
    chat.tick(NOW + 49 * H)
    assert titles(chat, "wangwu") == ["审批超时二级升级：A1 已等 2 天 1 小时"]
    assert "这是第 2 次超时升级（二级），请督促 张三 尽快处理。" in chat.cards_for("wangwu")[0].lines
    assert titles(chat, "zhangsan")[-2:] == ["审批提醒（第 1 次）：A1 已等 1 天 1 小时",
                                              "审批提醒（第 2 次）：A1 已等 2 天 1 小时"]
    assert titles(chat, "lisi") == ["审批超时一级升级：A1 已等 1 天 1 小时"]
    with chat.factory() as s:
        step = s.scalars(select(ApprovalStep).where(ApprovalStep.status == "pending")).one()
        assert (step.escalation_level, step.next_check_at) == (2, None)  # wangwu is the top


def test_a_late_first_tick_catches_up_every_level_once(chat_with_team_lead: Chat) -> None:
    chat = chat_with_team_lead
    submit(chat, "xiaoming", "30万")
    chat.tick(NOW + 60 * H)
    assert titles(chat, "lisi") == ["审批超时一级升级：A1 已等 2 天 12 小时"]
    assert titles(chat, "wangwu") == ["审批超时二级升级：A1 已等 2 天 12 小时"]
    assert [t for t in titles(chat, "zhangsan") if t.startswith("审批提醒")] == ["审批提醒（第 2 次）：A1 已等 2 天 12 小时"]


def test_each_step_has_its_own_clock(chat: Chat) -> None:
    submit(chat)
    chat.now = NOW + 20 * H
    chat.say("lisi", "同意 A1")
    assert chat.tick(NOW + 25 * H) == []  # wangwu's step started 5 hours ago
    chat.tick(NOW + 44 * H)
    assert titles(chat, "wangwu")[-1] == "审批提醒（第 1 次）：A1 已等 1 天"
    assert not [t for t in titles(chat, "lisi") if "升级" in t or "提醒" in t]


def test_a_decided_or_withdrawn_approval_is_not_chased(chat: Chat) -> None:
    submit(chat)
    chat.say("zhangsan", "撤回 A1")
    assert chat.tick(NOW + 25 * H) == []


def test_two_workers_ticking_at_once_escalate_once(chat: Chat, db_url: str) -> None:
    submit(chat)
    at = NOW + 25 * H
    engines = [make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[list[str]] = []

    def worker(index: int) -> None:
        barrier.wait()
        results.append(run_tick(make_session_factory(engines[index]), chat.runtime.settings, at))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for engine in engines:
        engine.dispose()
    assert sorted(len(r) for r in results) == [0, 1]
    with chat.factory() as s:
        keys = s.scalars(select(OutboxItem.dedupe_key).where(OutboxItem.dedupe_key.like("esc:%"))).all()
    assert sorted(keys) == ["esc:A1:step1:L1:remind:lisi", "esc:A1:step1:L1:wangwu"]


def test_a_restarted_process_neither_misses_nor_repeats(chat: Chat, db_url: str) -> None:
    submit(chat)
    chat.tick(NOW + 25 * H)
    sent = chat.outbox_count()
    engine = make_engine(db_url)  # a new process: nothing in memory, only the database
    fresh = Runtime(SettingsHolder(chat.runtime.settings), engine, make_session_factory(engine))
    assert run_tick(fresh.factory, fresh.settings, NOW + 25 * H) == []
    engine.dispose()
    assert chat.outbox_count() == sent


# ---------------------------------------------------------------------------------------------- to-dos


def add_todo(chat: Chat, *, owner: str | None = "zhangsan", role: str | None = None, due: datetime | None = None,
             created: datetime = NOW, next_check: datetime | None = None, status: str = "open") -> int:
    with transaction(chat.factory) as s:
        todo = Todo(title="给客户寄样品", owner_id=owner, role=role, status=status, created_at=created, due_at=due,
                    escalation_level=0, next_check_at=next_check or due)
        s.add(todo)
        s.flush()
        return todo.id


def test_overdue_todo_reminds_the_owner_then_climbs_the_chain(chat: Chat) -> None:
    todo = add_todo(chat, due=NOW + 2 * H)
    code = f"T{todo}"
    assert chat.tick(NOW + H) == []
    chat.tick(NOW + 2 * H)
    chat.tick(NOW + 2 * H)
    assert titles(chat, "zhangsan") == [f"待办到期提醒：{code}"]
    assert chat.cards_for("zhangsan")[0].buttons[0].command == f"完成 {code}"
    assert titles(chat, "lisi") == []

    chat.tick(NOW + 25 * H)
    assert titles(chat, "lisi") == []  # 23 hours overdue: not yet
    chat.tick(NOW + 26 * H)  # todo_escalate_hours (24) after the due time
    chat.tick(NOW + 26 * H)
    assert titles(chat, "lisi") == [f"待办逾期一级升级：{code} 已逾期 1 天"]
    assert "张三 的待办已逾期" in chat.cards_for("lisi")[0].lines[0]
    assert titles(chat, "zhangsan")[-1] == f"待办逾期 1 天（第 2 次提醒）：{code}"

    chat.tick(NOW + 50 * H)
    chat.tick(NOW + 200 * H)
    assert titles(chat, "wangwu") == [f"待办逾期二级升级：{code} 已逾期 2 天"]
    assert len(titles(chat, "lisi")) == 1 and len(titles(chat, "zhangsan")) == 3


def test_done_todos_are_left_alone(chat: Chat) -> None:
    add_todo(chat, due=NOW - D, status="done")
    assert chat.tick(NOW + 10 * D) == []


def test_unclaimed_todo_goes_to_the_director_once(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW)
    code = f"T{todo}"
    assert chat.tick(NOW + H) == []
    assert chat.tick(NOW + 71 * H) == []
    chat.tick(NOW + 72 * H)
    chat.tick(NOW + 72 * H)
    chat.tick(NOW + 300 * H)
    assert titles(chat, "wangwu") == [f"待办无人认领超过 3 天：{code}"]
    assert f"请指定负责人：让对方回复「认领 {code}」。" in chat.cards_for("wangwu")[0].lines
    assert titles(chat, "lisi") == titles(chat, "zhangsan") == []


def test_a_claimed_todo_is_not_chased_as_unclaimed(chat: Chat) -> None:
    todo = add_todo(chat, owner=None, role="implementation", created=NOW, next_check=NOW + 72 * H)
    with transaction(chat.factory) as s:
        row = s.get(Todo, todo)
        row.owner_id, row.claimed_at, row.due_at, row.next_check_at = "zhangsan", NOW + H, NOW + 100 * H, NOW + 100 * H
    chat.tick(NOW + 72 * H)
    assert titles(chat, "wangwu") == []


# ------------------------------------------------------------------------------------ silent customers


def test_silent_customer_is_reminded_then_released_to_the_public_pool(chat: Chat) -> None:
    customer = chat.add_customer(HUAWEI, last_activity=NOW - 31 * D)
    lively = chat.add_customer("小米科技", last_activity=NOW - 10 * D)
    chat.tick(NOW)
    chat.tick(NOW)
    assert titles(chat, "zhangsan") == [f"客户沉默提醒：{HUAWEI} 已 31 天无动态"]
    assert (chat.customer(customer).silence_level, chat.customer(customer).owner_id) == (1, "zhangsan")

    chat.tick(NOW + 14 * D)  # 45 days silent
    chat.tick(NOW + 14 * D)
    chat.tick(NOW + 20 * D)
    released = chat.customer(customer)
    assert (released.status, released.owner_id, released.silence_level) == ("public", None, 2)
    assert titles(chat, "lisi") == [f"客户已回收到公海：{HUAWEI}（45 天无动态）"]
    assert f"「{HUAWEI}」（原负责人 张三）已 45 天没有动态，超过 45 天，已自动回收到公海。" in chat.cards_for("lisi")[0].lines
    assert titles(chat, "zhangsan") == [f"客户沉默提醒：{HUAWEI} 已 31 天无动态", f"你的客户已回收到公海：{HUAWEI}",
                                        "客户沉默提醒：小米科技 已 30 天无动态"]
    assert chat.customer(lively).status == "active"  # 30 days silent at NOW + 20 D: reminded only
    assert chat.customer(lively).silence_level == 1
    with chat.factory() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "customer", AuditEntry.entity_id == str(customer),
                                                   AuditEntry.actor == "salesbot")).all()
    assert [(a.field, a.before, a.after) for a in audit] == [("owner_id", "zhangsan", None), ("status", "active", "public")]


def test_a_customer_silent_past_the_release_time_is_released_once(chat: Chat) -> None:
    customer = chat.add_customer(HUAWEI, last_activity=NOW - 50 * D)
    chat.tick(NOW)
    chat.tick(NOW + D)
    assert chat.customer(customer).status == "public"
    assert titles(chat, "lisi") == [f"客户已回收到公海：{HUAWEI}（50 天无动态）"]
    assert titles(chat, "zhangsan") == [f"你的客户已回收到公海：{HUAWEI}"]


def test_activity_resets_the_silence_clock(chat: Chat) -> None:
    customer = chat.add_customer(HUAWEI, last_activity=NOW - 31 * D)
    chat.tick(NOW)
    with transaction(chat.factory) as s:
        from storage import customers

        row = s.get(type(chat.customer(customer)), customer)
        customers.touch(row, NOW + D)
    chat.tick(NOW + 15 * D)
    assert chat.customer(customer).status == "active"
    chat.tick(NOW + 31 * D)
    assert titles(chat, "zhangsan")[-1] == f"客户沉默提醒：{HUAWEI} 已 30 天无动态"


def test_checks_only_touch_due_rows(chat: Chat) -> None:
    """Rows not yet due are not even rewritten: the tick's writes follow what is due."""
    submit(chat)
    add_todo(chat, due=NOW + 10 * D)
    with chat.factory() as s:
        before = [(r.escalation_level, r.next_check_at) for r in s.scalars(select(Todo))]
        count = s.scalar(select(func.count(ApprovalStep.id)))
    chat.tick(NOW + 2 * H)
    with chat.factory() as s:
        assert [(r.escalation_level, r.next_check_at) for r in s.scalars(select(Todo))] == before
        assert s.scalar(select(func.count(ApprovalStep.id))) == count
