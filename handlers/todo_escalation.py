"""Overdue and unclaimed to-dos, chased up the management chain. Run by the scheduler's tick
(scheduler.escalation) with the clock and settings in ctx.

Contract with whoever writes to-dos: an open to-do that should be watched has `next_check_at` set at or
before its first check (its due time; for a claimable one any time up to created_at + unclaimed_hours);
the check moves it on from there. A claim resets escalation_level to 0.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from handlers import orgchart, outbox
from handlers.context import Context
from handlers.model import Button, Card
from handlers.orgchart import role_name, user_name
from handlers.sla import BATCH, directory_pinned, due_rows, level_name
from handlers.timefmt import duration, local_time
from storage import directory
from storage import todos as repo
from storage.models import Customer, Todo, User


def escalate_overdue_todos(ctx: Context) -> list[str]:
    """Overdue to-dos: the owner at due, their manager after todo_escalate_hours more, and so on up;
    claimable to-dos nobody took within unclaimed_hours: the director."""
    lines: list[str] = []
    with directory_pinned(ctx.session):
        for todo in due_rows(partial(repo.due_for_check, ctx.session, ctx.now, BATCH), lambda t: t.id):
            if todo.owner_id:
                lines += _escalate_owned(ctx, todo)
            elif todo.role:
                lines += _escalate_unclaimed(ctx, todo)
            else:  # nobody to chase
                repo.move_escalation(ctx.session, todo, todo.escalation_level, todo.escalation_level, None)
    return lines


def _escalate_owned(ctx: Context, todo: Todo) -> list[str]:
    """Level 1 at due: remind the owner; level n+1 at due + n × todo_escalate_hours: the manager n levels
    up; the last level is the top of the owner's chain."""
    level = todo.escalation_level
    if todo.due_at is None:
        repo.move_escalation(ctx.session, todo, level, level, None)
        return []
    due, step = todo.due_at, timedelta(hours=ctx.settings.sla.todo_escalate_hours)
    owner = directory.get_user(ctx.session, todo.owner_id)
    top = 1 + len(orgchart.chain_above(ctx, owner))
    reached = min(top, 0 if ctx.now < due else 1 + int((ctx.now - due) / step))
    if reached <= level:  # early, or already at the top
        repo.move_escalation(ctx.session, todo, level, level, due + step * level if level < top else None)
        return []
    lines = []
    for new_level in range(level + 1, reached + 1):
        boss = orgchart.manager_at(ctx, owner, new_level - 1) if new_level > 1 else None
        next_check = due + step * new_level if new_level < top else None
        if not repo.move_escalation(ctx.session, todo, new_level - 1, new_level, next_check):
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
        repo.move_escalation(ctx.session, todo, todo.escalation_level, todo.escalation_level, None)
        return []
    if ctx.now < deadline:
        repo.move_escalation(ctx.session, todo, 0, 0, deadline)
        return []
    directors = orgchart.directors_over(ctx, todo.role or "")
    if not repo.move_escalation(ctx.session, todo, 0, 1, None):
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
