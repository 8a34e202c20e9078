"""Approvals and their steps: creation, the conditional state changes, and the queries behind them.

Every decision and escalation is a conditional UPDATE (the expected status or level is in the WHERE
clause), so two workers or two taps racing on the same step cannot both succeed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.models import Approval, ApprovalStep, User
from storage.states import APPROVAL, APPROVAL_STEP, ApprovalStatus, StepStatus

OPEN_STEP = StepStatus.PENDING  # the current step of an approval
_CODE = re.compile(r"^[Aa](\d{1,9})$")


def parse_code(text: str) -> int | None:
    """17 for "A17" / "a17", else None."""
    match = _CODE.match(text.strip())
    return int(match.group(1)) if match else None


def by_code(session: Session, code: str) -> Approval | None:
    approval_id = parse_code(code)
    return session.get(Approval, approval_id) if approval_id is not None else None


def create(session: Session, *, kind: str, customer_id: int, submitter_id: str, amount: Decimal, note: str,
           now: datetime, previous: Approval | None = None) -> Approval:
    """A new pending approval (a new version of `previous` when given); steps are added separately."""
    approval = Approval(
        kind=kind, customer_id=customer_id, submitter_id=submitter_id, amount=amount, note=note,
        status=ApprovalStatus.PENDING, version=previous.version + 1 if previous else 1,
        previous_id=previous.id if previous else None, current_position=0,
        times_returned=previous.times_returned if previous else 0, created_at=now,
    )
    session.add(approval)
    session.flush()
    return approval


def add_step(session: Session, approval: Approval, position: int, spec: str, *, approver_id: str | None,
             approver_role: str | None, sla_hours: int, status: StepStatus = StepStatus.WAITING,
             note: str | None = None) -> ApprovalStep:
    step = ApprovalStep(
        approval_id=approval.id, position=position, approver_spec=spec, approver_id=approver_id,
        approver_role=approver_role, sla_hours=sla_hours, status=status, note=note, escalation_level=0,
    )
    session.add(step)
    session.flush()
    return step


def steps_of(session: Session, approval_id: int) -> list[ApprovalStep]:
    stmt = select(ApprovalStep).where(ApprovalStep.approval_id == approval_id).order_by(ApprovalStep.position)
    return list(session.scalars(stmt))


def current_step(session: Session, approval_id: int) -> ApprovalStep | None:
    return next((s for s in steps_of(session, approval_id) if s.status == OPEN_STEP), None)


def start_step(session: Session, step: ApprovalStep, now: datetime) -> None:
    """Make a waiting step the current one; its SLA clock starts now."""
    APPROVAL_STEP.check(StepStatus(step.status), OPEN_STEP)
    step.status = OPEN_STEP
    step.started_at = now
    step.escalation_level = 0
    step.next_check_at = now + timedelta(hours=step.sla_hours)
    session.execute(update(Approval).where(Approval.id == step.approval_id)
                    .values(current_position=step.position))


def skip_step(step: ApprovalStep, note: str) -> None:
    APPROVAL_STEP.check(StepStatus(step.status), StepStatus.SKIPPED)
    step.status = StepStatus.SKIPPED
    step.note = note
    step.next_check_at = None


def decide_step(session: Session, step_id: int, status: StepStatus, by: str, now: datetime,
                reason: str | None = None) -> bool:
    """Record a decision on the current step; False if it is no longer waiting for one."""
    return bool(APPROVAL_STEP.move(session, ApprovalStep, ApprovalStep.id == step_id, source=OPEN_STEP,
                                   target=status, decided_by=by, decided_at=now, reason=reason,
                                   next_check_at=None))


def close(session: Session, approval_id: int, status: ApprovalStatus, now: datetime,
          returned: bool = False) -> bool:
    """End a pending approval (approved / rejected / withdrawn); steps still open are cancelled."""
    values: dict[str, Any] = dict(decided_at=now)
    if returned:
        values["times_returned"] = Approval.times_returned + 1
    if not APPROVAL.move(session, Approval, Approval.id == approval_id, source=ApprovalStatus.PENDING,
                         target=status, **values):
        return False
    APPROVAL_STEP.move(session, ApprovalStep, ApprovalStep.approval_id == approval_id,
                       source=(StepStatus.WAITING, OPEN_STEP), target=StepStatus.CANCELLED, next_check_at=None)
    return True


def waiting_for(session: Session, user: User) -> list[tuple[ApprovalStep, Approval]]:
    """Current steps this user may decide: named on the step, or holding its role (not their own)."""
    stmt = (
        select(ApprovalStep, Approval)
        .join(Approval, Approval.id == ApprovalStep.approval_id)
        .where(ApprovalStep.status == OPEN_STEP, Approval.status == ApprovalStatus.PENDING)
        .where(or_(ApprovalStep.approver_id == user.id,
                   (ApprovalStep.approver_role == user.role) & (Approval.submitter_id != user.id)))
        .order_by(ApprovalStep.started_at, ApprovalStep.id)
    )
    return [(s, a) for s, a in session.execute(stmt).tuples()]


def open_by_submitters(session: Session, submitter_ids: Iterable[str] | None) -> list[Approval]:
    """Pending approvals, of these submitters only unless None; oldest first."""
    stmt = select(Approval).where(Approval.status == ApprovalStatus.PENDING).order_by(Approval.created_at, Approval.id)
    if submitter_ids is not None:
        stmt = stmt.where(Approval.submitter_id.in_(list(submitter_ids)))
    return list(session.scalars(stmt))


def lineage(session: Session, approval: Approval) -> list[Approval]:
    """Every version of this approval, first to last."""
    root = approval
    while root.previous_id is not None:
        earlier = session.get(Approval, root.previous_id)
        if earlier is None:
            break
        root = earlier
    versions = [root]
    while True:
        later = session.scalars(select(Approval).where(Approval.previous_id == versions[-1].id)
                                .order_by(Approval.id)).first()
        if later is None:
            return versions
        versions.append(later)


def newer_version(session: Session, approval: Approval) -> Approval | None:
    return session.scalars(select(Approval).where(Approval.previous_id == approval.id)).first()


def has_approved(session: Session, approval_id: int, user_id: str) -> ApprovalStep | None:
    """The step of this approval this user already approved, if any."""
    stmt = select(ApprovalStep).where(ApprovalStep.approval_id == approval_id, ApprovalStep.status == "approved",
                                      ApprovalStep.decided_by == user_id)
    return session.scalars(stmt).first()


# ------------------------------------------------------------------------------------------ escalation


def due_steps(session: Session, now: datetime, limit: int) -> list[ApprovalStep]:
    """Current steps whose next SLA check has come; an index range on (status, next_check_at)."""
    stmt = (
        select(ApprovalStep)
        .where(ApprovalStep.status == OPEN_STEP, ApprovalStep.next_check_at <= now)
        .order_by(ApprovalStep.next_check_at, ApprovalStep.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def set_escalation(session: Session, step_id: int, from_level: int, to_level: int,
                   next_check_at: datetime | None) -> bool:
    """Move a current step from escalation level `from_level` to `to_level` and set its next check;
    False if another worker (or a decision) got there first."""
    result = session.execute(
        update(ApprovalStep)
        .where(ApprovalStep.id == step_id, ApprovalStep.status == OPEN_STEP,
               ApprovalStep.escalation_level == from_level)
        .values(escalation_level=to_level, next_check_at=next_check_at)
        .execution_options(synchronize_session=False)  # callers do not read these two fields afterwards
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
