"""The commands that look at approvals: 审批 (waiting for me, or one approval's history) and 看板."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers import orgchart
from handlers.amounts import format_amount
from handlers.approvals.calls import load, member, refusals_answered
from handlers.approvals.chain import Refusal
from handlers.approvals.text import (
    KIND_NAMES,
    STATUS_NAMES,
    STEP_NAMES,
    approver_label,
    customer_name,
    ordinal,
    spec_label,
    summary_lines,
    title_of,
    user_name,
)
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.health import links
from handlers.model import Card
from handlers.timefmt import duration, local_time
from storage import approvals as repo
from storage import directory
from storage.models import Approval, ApprovalStep, User
from storage.states import StepStatus


@router.command("审批", "审批 [编号]", "列出等你审批的事项；带编号时查看该审批的详情和历史版本")
@refusals_answered
def list_approvals(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) > 1:
        raise UsageError("「审批」后面最多写一个编号，例如：审批 A17。")
    if words:
        return [_history(call, words[0])]
    ctx, user = call.ctx, member(call)
    lines = []
    for step, approval in repo.waiting_for(ctx.session, user):
        waited = duration(ctx.now - (step.started_at or approval.created_at))
        lines.append(f"· {approval.code} {KIND_NAMES[approval.kind]} {customer_name(ctx, approval)} "
                     f"{format_amount(approval.amount)}，{user_name(ctx, approval.submitter_id)} 提交，已等 {waited}"
                     f" → 「同意 {approval.code}」/「驳回 {approval.code} <原因>」")
    mine = repo.open_by_submitters(ctx.session, [user.id])
    out = [f"等你审批：{len(lines)} 项", *lines] if lines else ["目前没有等你审批的事项。"]
    if mine:
        out.append(f"你提交、仍在审批中的：{len(mine)} 项")
        out += [f"· {a.code} {customer_name(ctx, a)} {format_amount(a.amount)}，当前："
                f"{_current_label(ctx, a)}" for a in mine]
    return [call.reply("审批", *out)]


def _current_label(ctx: Context, approval: Approval) -> str:
    step = next((s for s in approval.steps if s.status == StepStatus.PENDING), None)
    return approver_label(ctx, step) if step else "—"


def may_view(ctx: Context, user: User, approval: Approval) -> bool:
    """Submitter, anyone in the chain or above the submitter, admins and directors."""
    if user.role in ("admin", "director") or user.id == approval.submitter_id:
        return True
    for version in repo.lineage(ctx.session, approval):
        for step in version.steps:
            if user.id in (step.approver_id, step.decided_by) or (step.approver_role and step.approver_role == user.role):
                return True
    return orgchart.is_above(ctx, user, directory.get_user(ctx.session, approval.submitter_id))


def _history(call: CommandCall, code: str) -> Card:
    ctx, user = call.ctx, member(call)
    approval = load(call, code)
    if not may_view(ctx, user, approval):
        raise Refusal("无权查看", f"你与 {approval.code} 无关，不能查看。")
    lines = summary_lines(ctx, approval)
    lines.append(f"状态：{STATUS_NAMES[approval.status]}　被退回：{approval.times_returned} 次")
    versions = repo.lineage(ctx.session, approval)
    for version in versions:
        mark = "（当前查看）" if version.id == approval.id else ""
        lines.append(f"— {version.code} 第 {version.version} 版{mark}：{format_amount(version.amount)}，"
                     f"{STATUS_NAMES[version.status]}，提交于 {local_time(version.created_at)}")
        lines += [f"　{_step_line(ctx, version, s)}" for s in version.steps]
    return call.reply(f"{title_of(approval)}（共 {len(versions)} 个版本）", *lines, key=approval.code)


def _step_line(ctx: Context, approval: Approval, step: ApprovalStep) -> str:
    status = STEP_NAMES.get(step.status, step.status)
    if step.status in (StepStatus.APPROVED, StepStatus.REJECTED):
        text = f"第 {step.position} 步 {user_name(ctx, step.decided_by)} {status}（{local_time(step.decided_at)}）"
        return text + (f"：{step.reason}" if step.reason else "")
    if step.status == StepStatus.SKIPPED:
        return f"第 {step.position} 步 {spec_label(ctx, step.approver_spec)} {status}：{step.note or ''}"
    text = f"第 {step.position} 步 {approver_label(ctx, step)} {status}"
    if step.status == StepStatus.PENDING and step.started_at:
        text += f"，已等 {duration(ctx.now - step.started_at)}"
    return text


@router.command("看板", "看板", "主管查看团队进行中的审批：当前审批人、停留时长、退回次数")
@refusals_answered
def board(call: CommandCall) -> list[Card]:
    if call.args:
        raise UsageError("「看板」后面不用写内容。")
    ctx, user = call.ctx, member(call)
    link = links.login_link(user.id, ctx.now)
    tail = (f"网页看板：{link}（短时有效，只能打开一次；过期请再发「看板」）",) if link else ()
    if user.role == "admin":
        team: list[str] | None = None
    else:
        team = [u.id for u in directory.reports_of(ctx.session, user.id)]
        if not team:
            if not link:
                raise Refusal("审批看板", "你没有下属，看板只对主管开放。", "查看等你审批的事项请发「审批」。")
            return [call.reply("审批看板", "你没有下属，团队审批只对主管开放；网页看板里可以看你自己的事项。",
                               "查看等你审批的事项请发「审批」。", *tail, link=link)]
    rows = [(a, repo.current_step(ctx.session, a.id)) for a in repo.open_by_submitters(ctx.session, team)]
    if not rows:
        return [call.reply("审批看板", "团队目前没有进行中的审批。", *tail, link=link)]
    rows.sort(key=lambda row: _waiting_since(*row))
    return [call.reply("审批看板", f"团队进行中的审批：{len(rows)} 项（停留最久的在前）",
                       *[_board_line(ctx, a, s) for a, s in rows], *tail, link=link)]


def _waiting_since(approval: Approval, step: ApprovalStep | None) -> datetime:
    return (step.started_at if step else None) or approval.created_at


def _board_line(ctx: Context, approval: Approval, step: ApprovalStep | None) -> str:
    head = (f"· {approval.code} {KIND_NAMES[approval.kind]} {customer_name(ctx, approval)} "
            f"{format_amount(approval.amount)}（{user_name(ctx, approval.submitter_id)}）")
    if approval.opportunity_id:
        head += f" 商机 O{approval.opportunity_id}"
    if step is None:
        return head
    waited = ctx.now - _waiting_since(approval, step)
    overdue = "，已超时" if waited > timedelta(hours=step.sla_hours) else ""
    return (f"{head} 当前：{approver_label(ctx, step)}（第 {ordinal(approval, step)} 步），"
            f"停留 {duration(waited)}{overdue}，退回 {approval.times_returned} 次")
