"""An approval moving through its steps: submit, start the next step or finish, and the cards that
say so."""

from __future__ import annotations

from decimal import Decimal

from handlers.approvals.chain import Assignee, Refusal, plan
from handlers.approvals.text import (
    KIND_NAMES,
    STATUS_NAMES,
    approver_label,
    approvers_of,
    decision_lines,
    ordinal,
    role_name,
    summary_lines,
    title_of,
    user_name,
)
from handlers.context import Context
from handlers.model import Button, Card
from handlers.opportunities import deals
from storage import approvals as repo
from storage import audit
from storage.models import Approval, ApprovalStep, Customer, User
from storage.states import ApprovalStatus, StepStatus


def submit(ctx: Context, *, kind: str, customer: Customer, submitter: User, amount: Decimal, note: str,
           previous: Approval | None = None, opportunity_id: int | None = None) -> tuple[Approval, list[Card]]:
    """Create an approval (or a new version of `previous`) and start its first step."""
    chain = ctx.settings.approval(kind)
    if chain is None:
        raise Refusal("无法提交", f"管理员还没有配置「{KIND_NAMES[kind]}」的审批流程。")
    steps = plan(ctx, chain, amount, submitter)
    approval = repo.create(ctx.session, kind=kind, customer_id=customer.id, submitter_id=submitter.id,
                           amount=amount, note=note, now=ctx.now, previous=previous)
    approval.opportunity_id = opportunity_id
    for position, p in enumerate(steps, start=1):
        who = p.assignee or Assignee()
        repo.add_step(ctx.session, approval, position, p.spec, approver_id=who.user_id, approver_role=who.role,
                      sla_hours=p.sla_hours, status=StepStatus.SKIPPED if p.skip_note else StepStatus.WAITING,
                      note=p.skip_note or who.note)
    audit.record(ctx.session, ctx.now, submitter.id, "approval", approval.id, "submitted", None,
                 f"{kind} {amount}", f"version {approval.version}")
    ctx.session.refresh(approval)
    return approval, advance(ctx, approval)


def advance(ctx: Context, approval: Approval) -> list[Card]:
    """Start the next waiting step (skipping people who already approved), or finish as approved."""
    for step in approval.steps:
        if step.status != StepStatus.WAITING:
            continue
        earlier = repo.has_approved(ctx.session, approval.id, step.approver_id) if step.approver_id else None
        if earlier is not None:
            repo.skip_step(step, f"{user_name(ctx, step.approver_id)} 已在第 {earlier.position} 步同意，本步跳过")
            continue
        repo.start_step(ctx.session, step, ctx.now)
        return [ask_card(ctx, approval, step)]
    repo.close(ctx.session, approval.id, ApprovalStatus.APPROVED, ctx.now)
    ctx.session.refresh(approval)
    return [outcome_card(ctx, approval), *deals.on_approved(ctx, approval)]


def ask_card(ctx: Context, approval: Approval, step: ApprovalStep) -> Card:
    """The card asking the current step's approver(s) to decide."""
    code = approval.code
    lines = [f"{user_name(ctx, approval.submitter_id)} 提交的{KIND_NAMES[approval.kind]}等你审批"
             f"（第 {ordinal(approval, step)} 步）。", *summary_lines(ctx, approval)]
    earlier = decision_lines(ctx, approval)
    if earlier:
        lines += ["此前的审批：", *earlier]
    if step.note:
        lines.append(f"说明：{step.note}")
    if step.approver_role:
        lines.append(f"本步由任一{role_name(step.approver_role)}审批。")
    lines += [f"请在 {step.sla_hours} 小时内处理。",
              f"同意请回复「同意 {code}」；驳回请回复「驳回 {code} <原因>」（驳回必须写原因）。"]
    return Card(title=f"{title_of(approval)}（第 {ordinal(approval, step)} 步）", lines=tuple(lines),
                buttons=(Button("同意", f"同意 {code}"),), recipients=tuple(approvers_of(ctx, step, approval)),
                key=code, dedupe_key=f"approval:{code}:step{step.position}:ask")


def outcome_card(ctx: Context, approval: Approval) -> Card:
    """Tells the submitter how the approval ended (已通过 / 已驳回)."""
    status = STATUS_NAMES[approval.status]
    lines = [f"你提交的{title_of(approval)} {status}。", *summary_lines(ctx, approval)]
    decisions = decision_lines(ctx, approval)
    if decisions:
        lines += ["审批记录：", *decisions]
    elif approval.status == ApprovalStatus.APPROVED:
        lines.append("按审批规则，本次金额不需要审批，已自动通过。")
    if approval.status == ApprovalStatus.REJECTED:
        word = KIND_NAMES[approval.kind]
        lines.append(f"修改后发送「{word} {approval.code} <新金额> [备注]」重新提交（生成新版本）。")
    return Card(title=f"{title_of(approval)} {status}", lines=tuple(lines), recipients=(approval.submitter_id,),
                key=approval.code, dedupe_key=f"approval:{approval.code}:{approval.status}")


def progress_card(ctx: Context, approval: Approval, decided: ApprovalStep) -> Card:
    """Tells the submitter a step was approved and who decides next."""
    nxt = next((s for s in approval.steps if s.status == StepStatus.PENDING), None)
    lines = [f"{user_name(ctx, decided.decided_by)} 已同意你提交的{title_of(approval)}"
             f"（第 {ordinal(approval, decided)} 步）。"]
    if nxt is not None:
        lines.append(f"下一步：{approver_label(ctx, nxt)} 审批（第 {ordinal(approval, nxt)} 步）。")
    return Card(title=f"{approval.code} 第 {ordinal(approval, decided)} 步已同意", lines=tuple(lines),
                recipients=(approval.submitter_id,), key=approval.code,
                dedupe_key=f"approval:{approval.code}:step{decided.position}:approved")
