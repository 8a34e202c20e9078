"""Resolving a configured [[approvals]] chain against the org chart when an approval is submitted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from handlers import orgchart
from handlers.amounts import format_amount
from handlers.context import Context
from handlers.settings import ApprovalConfig, ApprovalStepConfig
from storage import directory
from storage.models import User


class Refusal(Exception):
    """The command is understood but cannot be done for this user; the reply says why (Chinese)."""

    def __init__(self, title: str, *lines: str) -> None:
        super().__init__(title)
        self.title = title
        self.lines = lines


@dataclass(frozen=True)
class Assignee:
    """Who decides a step: one user, or anyone holding a role; `note` explains a fallback."""

    user_id: str | None = None
    role: str | None = None
    note: str | None = None


def resolve(ctx: Context, spec: str, submitter: User) -> Assignee | None:
    """The approver named by a spec (manager, manager:N, role:<r>, user:<id>), never the submitter."""
    session = ctx.session
    if spec == "manager" or spec.startswith("manager:"):
        boss = orgchart.manager_at(ctx, submitter, int(spec.partition(":")[2] or 1))
        return Assignee(boss.id) if boss is not None and boss.id != submitter.id else None
    if spec.startswith("role:"):
        holders = [u for u in directory.with_role(session, spec[5:]) if u.id != submitter.id]
        return Assignee(role=spec[5:]) if holders else None
    if spec.startswith("user:"):
        user = directory.get_user(session, spec[5:])
        return Assignee(user.id) if user is not None and user.active and user.id != submitter.id else None
    return None


def resolve_or_fallback(ctx: Context, spec: str, submitter: User) -> Assignee | None:
    """As `resolve`; an approver that cannot be found goes to the submitter's manager, with a note."""
    found = resolve(ctx, spec, submitter)
    if found is not None:
        return found
    boss = resolve(ctx, "manager", submitter)
    if boss is not None:
        return Assignee(boss.user_id, note=f"按配置「{spec}」找不到审批人，改由提交人的直属主管审批")
    admins = resolve(ctx, "role:admin", submitter)
    if admins is not None:
        return Assignee(role="admin", note=f"按配置「{spec}」找不到审批人，提交人也没有主管，改由管理员审批")
    return None


def applies(step: ApprovalStepConfig, amount: Decimal) -> str | None:
    """None when the step's amount condition holds, else why it is skipped."""
    if step.min_amount is not None and amount < Decimal(str(step.min_amount)):
        return f"金额低于 {format_amount(step.min_amount)}，本步跳过"
    if step.max_amount is not None and amount > Decimal(str(step.max_amount)):
        return f"金额高于 {format_amount(step.max_amount)}，本步跳过"
    return None


@dataclass(frozen=True)
class PlannedStep:
    spec: str
    sla_hours: int
    assignee: Assignee | None
    skip_note: str | None


def plan(ctx: Context, chain: ApprovalConfig, amount: Decimal, submitter: User) -> list[PlannedStep]:
    """The chain's steps for this amount; raises Refusal when a needed step has nobody to decide it."""
    planned = []
    for step in chain.steps:
        sla = step.sla_hours or chain.sla_hours or 24
        skip = applies(step, amount)
        assignee = None if skip else resolve_or_fallback(ctx, step.approver, submitter)
        if skip is None and assignee is None:
            raise Refusal("无法提交", f"审批步骤「{step.approver}」找不到审批人，请联系管理员检查审批配置。")
        planned.append(PlannedStep(step.approver, sla, assignee, skip))
    return planned
