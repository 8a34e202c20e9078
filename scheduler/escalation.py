"""SLA checks run by every tick: approvals waiting too long, overdue and unclaimed to-dos, silent customers.

Each check reads only what is due: open rows whose `next_check_at` has come (index (status,
next_check_at)), or active customers whose last activity is older than a cut-off (index (status,
silence_level, last_activity_at)). Each escalation level is claimed by a conditional UPDATE that
names the level it moves from, so two ticks or two workers cannot both act; the cards it raises carry a
per-level dedupe key as a second guard. Card texts name the level and the waiting time because
DingTalk silently drops identical content sent to the same person twice a day.

Contract with whoever writes to-dos: an open to-do that should be watched has `next_check_at` set at or
before its first check (its due time; for a claimable one any time up to created_at + unclaimed_hours);
the check moves it on from there. A claim resets escalation_level to 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers import orgchart, outbox
from handlers.approvals.text import (
    approver_label,
    approvers_of,
    ordinal,
    role_name,
    summary_lines,
    title_of,
    user_name,
)
from handlers.context import Context
from handlers.model import Button, Card
from handlers.timefmt import duration, local_time
from storage import approvals as approval_repo
from storage import audit, directory
from storage.models import Approval, ApprovalStep, Customer, Todo, User

log = logging.getLogger(__name__)

BATCH = 200
MAX_PER_TICK = 5000  # keeps one tick bounded; whatever is left is still due at the next tick
LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级", 4: "四级", 5: "五级"}
Row = TypeVar("Row", ApprovalStep, Todo, Customer)


def _due(fetch: Callable[[], Sequence[Row]], key: Callable[[Row], object]) -> Iterator[Row]:
    """Rows from `fetch` batch after batch until none is due, at most MAX_PER_TICK, each row once."""
    seen: set[object] = set()
    while len(seen) < MAX_PER_TICK:
        fresh = [row for row in fetch() if key(row) not in seen]
        if not fresh:
            return
        for row in fresh:
            seen.add(key(row))
            yield row


@contextmanager
def _directory_pinned(session: Session) -> Iterator[list[User]]:
    """Hold every user in memory for the duration of a check: the session's identity map is weak, and
    each card looks up approvers, owners and managers again (the directory is small, the checks are not)."""
    users = list(session.scalars(select(User)))  # a local: kept alive until the check ends
    yield users


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, f"{level}级")


# ------------------------------------------------------------------------------------------ approvals


def escalate_approvals(ctx: Context) -> list[str]:
    """A step waiting past its SLA: remind the approver, tell their manager; one level higher each SLA."""
    lines: list[str] = []
    with _directory_pinned(ctx.session):
        for step in _due(partial(approval_repo.due_steps, ctx.session, ctx.now, BATCH), lambda s: s.id):
            lines += _escalate_step(ctx, step)
    return lines


def _escalate_step(ctx: Context, step: ApprovalStep) -> list[str]:
    approval = step.approval
    sla = timedelta(hours=step.sla_hours)
    started = step.started_at or approval.created_at
    reached = int((ctx.now - started) / sla)  # whole SLA periods waited
    level, lines = step.escalation_level, []
    if reached <= level:  # checked early (e.g. a hand-set next_check_at): look again when the next level is due
        approval_repo.set_escalation(ctx.session, step.id, level, level, started + sla * (level + 1))
        return []
    while level < reached:
        level += 1
        bosses = _step_bosses(ctx, step, approval, level)
        more = bool(_step_bosses(ctx, step, approval, level + 1))
        next_check = started + sla * (level + 1) if more else None
        if not approval_repo.set_escalation(ctx.session, step.id, level - 1, level, next_check):
            break  # another worker took this level
        cards = [_step_escalation_card(ctx, approval, step, level, bosses)] if bosses else []
        if level == reached or not more:  # one reminder per tick, even when catching up several levels
            cards.append(_step_reminder_card(ctx, approval, step, level, bosses))
        outbox.post(ctx, cards)
        lines.append(f"{approval.code} step {step.position}: level {level} -> {[b.id for b in bosses] or 'approver only'}")
        if not more:
            break
    return lines


def _step_bosses(ctx: Context, step: ApprovalStep, approval: Approval, level: int) -> list[User]:
    """The managers `level` levels above whoever may decide the step (for a role: above each holder)."""
    found: dict[str, User] = {}
    for person_id in approvers_of(ctx, step, approval):
        boss = orgchart.manager_at(ctx, directory.get_user(ctx.session, person_id), level)
        if boss is not None:
            found.setdefault(boss.id, boss)
    return list(found.values())


def _waited(ctx: Context, step: ApprovalStep, approval: Approval) -> timedelta:
    return ctx.now - (step.started_at or approval.created_at)


def _step_escalation_card(ctx: Context, approval: Approval, step: ApprovalStep, level: int,
                          bosses: list[User]) -> Card:
    waited = _waited(ctx, step, approval)
    who = approver_label(ctx, step)
    lines = [f"{who} 还没有处理{title_of(approval)}（第 {ordinal(approval, step)} 步），"
             f"已等待 {duration(waited)}，时限 {step.sla_hours} 小时。",
             *summary_lines(ctx, approval),
             f"这是第 {level} 次超时升级（{level_name(level)}），请督促 {who} 尽快处理。"]
    return Card(title=f"审批超时{level_name(level)}升级：{approval.code} 已等 {duration(waited)}",
                lines=tuple(lines), recipients=tuple(b.id for b in bosses), key=approval.code,
                dedupe_key=f"esc:{approval.code}:step{step.position}:L{level}")


def _step_reminder_card(ctx: Context, approval: Approval, step: ApprovalStep, level: int,
                        bosses: list[User]) -> Card:
    waited = _waited(ctx, step, approval)
    code = approval.code
    lines = [f"{title_of(approval)}（第 {ordinal(approval, step)} 步）已等你 {duration(waited)}，"
             f"超过时限 {step.sla_hours} 小时（第 {level} 次提醒）。", *summary_lines(ctx, approval)]
    if bosses:
        lines.append(f"已通知：{'、'.join(b.name for b in bosses)}。")
    lines.append(f"同意请回复「同意 {code}」；驳回请回复「驳回 {code} <原因>」。")
    return Card(title=f"审批提醒（第 {level} 次）：{code} 已等 {duration(waited)}", lines=tuple(lines),
                buttons=(Button("同意", f"同意 {code}"),), recipients=tuple(approvers_of(ctx, step, approval)),
                key=code, dedupe_key=f"esc:{code}:step{step.position}:L{level}:remind")


# ---------------------------------------------------------------------------------------------- to-dos


def escalate_todos(ctx: Context) -> list[str]:
    """Overdue to-dos: the owner at due, their manager after todo_escalate_hours more, and so on up;
    claimable to-dos nobody took within unclaimed_hours: the director."""
    lines: list[str] = []
    with _directory_pinned(ctx.session):
        for todo in _due(partial(_due_todos, ctx.session, ctx.now), lambda t: t.id):
            if todo.owner_id:
                lines += _escalate_owned(ctx, todo)
            elif todo.role:
                lines += _escalate_unclaimed(ctx, todo)
            else:  # nobody to chase
                _set_todo_level(ctx.session, todo, todo.escalation_level, todo.escalation_level, None)
    return lines


def _due_todos(session: Session, now: datetime) -> list[Todo]:
    stmt = (select(Todo).where(Todo.status == "open", Todo.next_check_at <= now)
            .order_by(Todo.next_check_at, Todo.id).limit(BATCH))
    return list(session.scalars(stmt))


def _set_todo_level(session: Session, todo: Todo, from_level: int, level: int, next_check_at: datetime | None) -> bool:
    """Move a to-do from `from_level` to `level`, only if nobody changed its level or owner since we read it."""
    owner_same = Todo.owner_id == todo.owner_id if todo.owner_id else Todo.owner_id.is_(None)
    result = session.execute(
        update(Todo)
        .where(Todo.id == todo.id, Todo.status == "open", Todo.escalation_level == from_level, owner_same)
        .values(escalation_level=level, next_check_at=next_check_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _escalate_owned(ctx: Context, todo: Todo) -> list[str]:
    """Level 1 at due: remind the owner; level n+1 at due + n × todo_escalate_hours: the manager n levels
    up; the last level is the top of the owner's chain."""
    level = todo.escalation_level
    if todo.due_at is None:
        _set_todo_level(ctx.session, todo, level, level, None)
        return []
    due, step = todo.due_at, timedelta(hours=ctx.settings.sla.todo_escalate_hours)
    owner = directory.get_user(ctx.session, todo.owner_id)
    top = 1 + len(orgchart.chain_above(ctx, owner))
    reached = min(top, 0 if ctx.now < due else 1 + int((ctx.now - due) / step))
    if reached <= level:  # early, or already at the top
        _set_todo_level(ctx.session, todo, level, level, due + step * level if level < top else None)
        return []
    lines = []
    for new_level in range(level + 1, reached + 1):
        boss = orgchart.manager_at(ctx, owner, new_level - 1) if new_level > 1 else None
        next_check = due + step * new_level if new_level < top else None
        if not _set_todo_level(ctx.session, todo, new_level - 1, new_level, next_check):
            break  # another worker took this level
        # catching up several levels at once: each manager hears once, the owner only at the last
        outbox.post(ctx, _todo_cards(ctx, todo, owner, new_level, boss, remind_owner=new_level == reached))
        lines.append(f"{todo.code}: level {new_level} -> {boss.id if boss else todo.owner_id}")
    return lines


def _todo_cards(ctx: Context, todo: Todo, owner: User | None, level: int, boss: User | None,
                remind_owner: bool) -> list[Card]:
    overdue = duration(ctx.now - todo.due_at) if todo.due_at else ""
    about = _todo_lines(ctx, todo)
    stamp = f"{todo.owner_id}:{todo.due_at:%Y%m%d%H%M}:L{level}" if todo.due_at else f"L{level}"
    cards = []
    if boss is not None:
        cards.append(Card(
            title=f"待办逾期{level_name(level - 1)}升级：{todo.code} 已逾期 {overdue}",
            lines=(f"{user_name(ctx, todo.owner_id)} 的待办已逾期 {overdue}，还没有完成。", *about,
                   f"这是第 {level - 1} 次升级（{level_name(level - 1)}），请督促处理或重新安排。"),
            recipients=(boss.id,), key=todo.code, dedupe_key=f"esc:{todo.code}:{stamp}"))
    if remind_owner and owner is not None:
        told = f"已通知 {boss.name}。" if boss else "请尽快处理。"
        title = f"待办到期提醒：{todo.code}" if level == 1 else f"待办逾期 {overdue}（第 {level} 次提醒）：{todo.code}"
        cards.append(Card(
            title=title, lines=(f"你的待办{'已到截止时间' if level == 1 else f'已逾期 {overdue}'}。{told}", *about,
                                f"完成后回复「完成 {todo.code}」。"),
            buttons=(Button("完成", f"完成 {todo.code}"),), recipients=(owner.id,), key=todo.code,
            dedupe_key=f"esc:{todo.code}:{stamp}:remind"))
    return cards


def _todo_lines(ctx: Context, todo: Todo) -> list[str]:
    lines = [f"事项：{todo.title}"]
    if todo.customer_id:
        customer = ctx.session.get(Customer, todo.customer_id)
        lines.append(f"客户：{customer.name if customer else todo.customer_id}")
    if todo.due_at:
        lines.append(f"截止：{local_time(todo.due_at)}")
    return lines


def _escalate_unclaimed(ctx: Context, todo: Todo) -> list[str]:
    """A claimable to-do nobody took within unclaimed_hours goes to the director, once."""
    deadline = todo.created_at + timedelta(hours=ctx.settings.sla.unclaimed_hours)
    if todo.escalation_level >= 1:
        _set_todo_level(ctx.session, todo, todo.escalation_level, todo.escalation_level, None)
        return []
    if ctx.now < deadline:
        _set_todo_level(ctx.session, todo, 0, 0, deadline)
        return []
    directors = orgchart.directors_over(ctx, todo.role or "")
    if not _set_todo_level(ctx.session, todo, 0, 1, None):
        return []
    waited = duration(ctx.now - todo.created_at)
    role = todo.role or ""
    card = Card(
        title=f"待办无人认领超过 {waited}：{todo.code}",
        lines=(f"这条需要「{role_name(role)}」认领的待办已经 {waited} 没有人认领"
               f"（时限 {ctx.settings.sla.unclaimed_hours} 小时）。", *_todo_lines(ctx, todo),
               f"请指定负责人：让对方回复「认领 {todo.code}」。"),
        recipients=tuple(u.id for u in directors), key=todo.code, dedupe_key=f"esc:{todo.code}:unclaimed:L1")
    outbox.post(ctx, [card])
    return [f"{todo.code}: unclaimed for {waited} -> {[u.id for u in directors]}"]


# ------------------------------------------------------------------------------------ silent customers


def recycle_silent_customers(ctx: Context) -> list[str]:
    """No activity for silent_remind_days: remind the owner; for silent_release_days: back to the public
    pool (owner cleared, audited) and the owner's manager is told."""
    sla = ctx.settings.sla
    release_before = ctx.now - timedelta(days=sla.silent_release_days)
    remind_before = ctx.now - timedelta(days=sla.silent_remind_days)
    lines: list[str] = []
    with _directory_pinned(ctx.session):
        for level in (0, 1):  # released straight away if the remind level was missed
            for customer in _due(partial(_silent, ctx.session, level, release_before), _customer_id):
                lines += _release(ctx, customer, release_before)
        for customer in _due(partial(_silent, ctx.session, 0, remind_before), _customer_id):
            lines += _remind_silent(ctx, customer, remind_before)
    return lines


def _customer_id(customer: Customer) -> int:
    return customer.id


def _silent(session: Session, level: int, before: datetime) -> list[Customer]:
    stmt = (select(Customer)
            .where(Customer.status == "active", Customer.silence_level == level, Customer.last_activity_at <= before)
            .order_by(Customer.last_activity_at, Customer.id).limit(BATCH))
    return list(session.scalars(stmt))


def _claim_silence(session: Session, customer: Customer, level: int, before: datetime, **values: object) -> bool:
    """Move a customer from the silence level we read to `level`, only if it is still that silent."""
    result = session.execute(
        update(Customer)
        .where(Customer.id == customer.id, Customer.status == "active",
               Customer.silence_level == customer.silence_level, Customer.last_activity_at <= before)
        .values(silence_level=level, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _silent_for(ctx: Context, customer: Customer) -> str:
    return duration(ctx.now - customer.last_activity_at) if customer.last_activity_at else "很久"


def _remind_silent(ctx: Context, customer: Customer, before: datetime) -> list[str]:
    if not _claim_silence(ctx.session, customer, 1, before):
        return []
    if customer.owner_id is None:
        return []  # nobody to remind; released like any other when the time comes
    release_at = (customer.last_activity_at or ctx.now) + timedelta(days=ctx.settings.sla.silent_release_days)
    outbox.post(ctx, [Card(
        title=f"客户沉默提醒：{customer.name} 已 {_silent_for(ctx, customer)}无动态",
        lines=(f"「{customer.name}」最近一次动态在 {local_time(customer.last_activity_at)}，"
               f"已经 {_silent_for(ctx, customer)}没有新动态。",
               f"如果到 {local_time(release_at)} 仍没有动态，客户将自动回收到公海，由主管重新分配。",
               "请尽快联系客户并记录跟进情况。"),
        recipients=(customer.owner_id,), key=f"C{customer.id}",
        dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:remind")])
    return [f"customer {customer.id}: owner {customer.owner_id} reminded"]


def _release(ctx: Context, customer: Customer, before: datetime) -> list[str]:
    owner_id = customer.owner_id
    if not _claim_silence(ctx.session, customer, 2, before, status="public", owner_id=None, updated_at=ctx.now):
        return []
    days = ctx.settings.sla.silent_release_days
    note = f"no activity for {days} days: released to the public pool"
    audit.record(ctx.session, ctx.now, "salesbot", "customer", customer.id, "owner_id", owner_id, None, note)
    audit.record(ctx.session, ctx.now, "salesbot", "customer", customer.id, "status", "active", "public", note)
    owner = directory.get_user(ctx.session, owner_id)
    boss = orgchart.manager_at(ctx, owner)
    told = [boss] if boss else orgchart.admins(ctx)
    silent = _silent_for(ctx, customer)
    was = f"（原负责人 {owner.name}）" if owner else ""
    cards = [Card(
        title=f"客户已回收到公海：{customer.name}（{silent}无动态）",
        lines=(f"「{customer.name}」{was}已 {silent}没有动态，超过 {days} 天，已自动回收到公海。",
               f"请重新分配：新负责人发送「关联 {customer.name}」即可认领。"),
        recipients=tuple(u.id for u in told), key=f"C{customer.id}",
        dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:release")]
    if owner is not None:
        cards.append(Card(
            title=f"你的客户已回收到公海：{customer.name}",
            lines=(f"「{customer.name}」已 {silent}没有动态，按规定回收到公海，主管会重新分配。",),
            recipients=(owner.id,), key=f"C{customer.id}",
            dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:release-owner"))
    outbox.post(ctx, cards)
    return [f"customer {customer.id}: released to the public pool (was {owner_id})"]


def _stamp(customer: Customer) -> str:
    """Distinguishes one silent spell from the next (dedupe keys must not block a later one)."""
    return f"{customer.last_activity_at:%Y%m%d%H%M}" if customer.last_activity_at else "never"
