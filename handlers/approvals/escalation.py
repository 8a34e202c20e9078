"""Approval steps waiting past their SLA: remind the approver, tell their manager; one level higher
each SLA period. Run by the scheduler's tick (scheduler.escalation) with the clock and settings in ctx."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from handlers import orgchart, outbox
from handlers.approvals.text import approver_label, approvers_of, ordinal, summary_lines, title_of
from handlers.context import Context
from handlers.model import Button, Card
from handlers.sla import BATCH, directory_pinned, due_rows, level_name
from handlers.timefmt import duration
from storage import approvals as approval_repo
from storage import directory
from storage.models import Approval, ApprovalStep, User


def escalate_waiting_steps(ctx: Context) -> list[str]:
    """A step waiting past its SLA: remind the approver, tell their manager; one level higher each SLA."""
    lines: list[str] = []
    with directory_pinned(ctx.session):
        for step in due_rows(partial(approval_repo.due_steps, ctx.session, ctx.now, BATCH), lambda s: s.id):
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
