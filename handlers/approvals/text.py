"""How approvals read in Chinese: kind, status and step names, who decides, the summary lines."""

from __future__ import annotations

from handlers.amounts import format_amount
from handlers.context import Context
from handlers.orgchart import role_name, user_name
from handlers.timefmt import local_time
from storage import directory
from storage.models import Approval, ApprovalStep, Customer, Opportunity
from storage.states import ApprovalStatus, StepStatus

KIND_NAMES = {"quote": "报价", "contract": "合同"}
STATUS_NAMES: dict[str, str] = {
    ApprovalStatus.PENDING: "审批中", ApprovalStatus.APPROVED: "已通过", ApprovalStatus.REJECTED: "已驳回",
    ApprovalStatus.WITHDRAWN: "已撤回", ApprovalStatus.RETURNED: "已退回补充",
}
STEP_NAMES: dict[str, str] = {
    StepStatus.WAITING: "未开始", StepStatus.PENDING: "待审批", StepStatus.APPROVED: "已同意",
    StepStatus.REJECTED: "已驳回", StepStatus.SKIPPED: "已跳过", StepStatus.CANCELLED: "已取消",
}


def approver_label(ctx: Context, step: ApprovalStep) -> str:
    if step.approver_id:
        return user_name(ctx, step.approver_id)
    return f"{role_name(step.approver_role or '')}（任一人）"


def spec_label(ctx: Context, spec: str) -> str:
    """How a configured approver reads in Chinese: 直属主管, 上 2 级主管, 任一财务, 赵六."""
    kind, _, value = spec.partition(":")
    if kind == "manager":
        return "直属主管" if value in ("", "1") else f"上 {value} 级主管"
    if kind == "role":
        return f"任一{role_name(value)}"
    return user_name(ctx, value) if kind == "user" else spec


def approvers_of(ctx: Context, step: ApprovalStep, approval: Approval) -> list[str]:
    """Directory ids of everyone who may decide this step."""
    if step.approver_id:
        return [step.approver_id]
    holders = directory.with_role(ctx.session, step.approver_role or "")
    return [u.id for u in holders if u.id != approval.submitter_id]


def customer_name(ctx: Context, approval: Approval) -> str:
    customer = ctx.session.get(Customer, approval.customer_id)
    return customer.name if customer else f"客户#{approval.customer_id}"


def title_of(approval: Approval) -> str:
    return f"{KIND_NAMES.get(approval.kind, approval.kind)}审批 {approval.code}"


def summary_lines(ctx: Context, approval: Approval) -> list[str]:
    """Customer, amount, submitter (and note, version) of an approval, one line each."""
    lines = [f"客户：{customer_name(ctx, approval)}", f"金额：{format_amount(approval.amount)}",
             f"提交人：{user_name(ctx, approval.submitter_id)}"]
    opp = ctx.session.get(Opportunity, approval.opportunity_id) if approval.opportunity_id else None
    if opp is not None:
        lines.append(f"商机：{opp.code} {opp.name}（{opp.stage}）")
    if approval.note:
        lines.append(f"备注：{approval.note}")
    if approval.previous_id:
        lines.append(f"版本：第 {approval.version} 版（{_previous_outcome(ctx, approval)}）")
    return lines


def _previous_outcome(ctx: Context, approval: Approval) -> str:
    previous = ctx.session.get(Approval, approval.previous_id)
    if previous is None:
        return "上一版已删除"
    text = f"上一版 A{previous.id} {STATUS_NAMES.get(previous.status, previous.status)}"
    rejected = next((s for s in previous.steps if s.status == StepStatus.REJECTED
                     or (previous.status == ApprovalStatus.RETURNED and s.reason)), None)
    if rejected is not None and rejected.reason:
        text += f"：{rejected.reason}"
    return text


def ordinal(approval: Approval, step: ApprovalStep) -> str:
    """「2/3」: the step's place among the steps that are not skipped."""
    counted = [s for s in approval.steps if s.status != StepStatus.SKIPPED]
    index = next((i for i, s in enumerate(counted) if s.id == step.id), 0)
    return f"{index + 1}/{len(counted)}"


def decision_lines(ctx: Context, approval: Approval) -> list[str]:
    lines = []
    for step in approval.steps:
        if step.status in (StepStatus.APPROVED, StepStatus.REJECTED):
            line = f"· {user_name(ctx, step.decided_by)} {STEP_NAMES[step.status]}（{local_time(step.decided_at)}）"
            lines.append(line + (f"：{step.reason}" if step.reason else ""))
    return lines
