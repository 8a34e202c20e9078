"""Queries behind the process-health report and the board: one query per panel or metric term.

Every query takes `people`, the directory ids of whoever is in scope (a rep alone, a manager's whole
team, or None for the company), and applies it in the WHERE clause, so a page never loads rows its
reader may not see. Rows carry the person they count for, so one query serves rep, team and company.
Approvals count for their submitter, to-dos for their owner (unclaimed hand-offs for the customer's
owner), risks and customers for the customer's owner.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, func, or_, select
from sqlalchemy.orm import Session

from storage.models import Approval, ApprovalStep, AuditEntry, Customer, RiskEvent, Todo, User
from storage.states import ApprovalStatus, CustomerStatus, RiskStatus, StepStatus, TodoStatus

People = Collection[str] | None
DECIDED = (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED)


def _in(column: Any, people: People) -> list[ColumnElement[bool]]:
    return [] if people is None else [column.in_(list(people))]


def approvals_decided(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(submitter_id, id, created_at, decided_at, status) of approvals decided (approved or returned) in [start, end)."""
    return session.execute(
        select(Approval.submitter_id, Approval.id, Approval.created_at, Approval.decided_at, Approval.status)
        .where(Approval.status.in_(DECIDED), Approval.decided_at >= start, Approval.decided_at < end,
               *_in(Approval.submitter_id, people))
    ).all()


def approvals_submitted(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(submitter_id, id, note, status) of approvals (every version) submitted in [start, end)."""
    return session.execute(
        select(Approval.submitter_id, Approval.id, Approval.note, Approval.status)
        .where(Approval.created_at >= start, Approval.created_at < end, *_in(Approval.submitter_id, people))
    ).all()


def approvals_withdrawn(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(submitter_id, id) of approvals withdrawn in [start, end)."""
    return session.execute(
        select(Approval.submitter_id, Approval.id)
        .where(Approval.status == ApprovalStatus.WITHDRAWN, Approval.decided_at >= start,
               Approval.decided_at < end, *_in(Approval.submitter_id, people))
    ).all()


def steps_decided(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(submitter_id, approval_id, approver_id, decided_by, started_at, decided_at, status, sla_hours,
    escalation_level) of steps decided (approved or returned) in [start, end)."""
    return session.execute(
        select(Approval.submitter_id, ApprovalStep.approval_id, ApprovalStep.approver_id, ApprovalStep.decided_by,
               ApprovalStep.started_at, ApprovalStep.decided_at, ApprovalStep.status, ApprovalStep.sla_hours,
               ApprovalStep.escalation_level)
        .join(Approval, Approval.id == ApprovalStep.approval_id)
        .where(ApprovalStep.status.in_((StepStatus.APPROVED, StepStatus.REJECTED)),
               ApprovalStep.decided_at >= start, ApprovalStep.decided_at < end,
               *_in(Approval.submitter_id, people))
    ).all()


def steps_escalated(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(submitter_id, approval_id, escalation_level) of steps started in [start, end) whose escalation fired."""
    return session.execute(
        select(Approval.submitter_id, ApprovalStep.approval_id, ApprovalStep.escalation_level)
        .join(Approval, Approval.id == ApprovalStep.approval_id)
        .where(ApprovalStep.escalation_level > 0, ApprovalStep.started_at >= start, ApprovalStep.started_at < end,
               *_in(Approval.submitter_id, people))
    ).all()


def open_approvals(session: Session, people: People, limit: int | None = None) -> Sequence[Row[Any]]:
    """The board's 审批 panel: open approvals with their current step, stuck longest first:
    (Approval, ApprovalStep | None, submitter name, customer name)."""
    step = ApprovalStep
    waiting = func.coalesce(step.started_at, Approval.created_at)
    stmt = (
        select(Approval, step, User.name, Customer.name)
        .outerjoin(step, and_(step.approval_id == Approval.id, step.status == StepStatus.PENDING))
        .join(User, User.id == Approval.submitter_id)
        .join(Customer, Customer.id == Approval.customer_id)
        .where(Approval.status == ApprovalStatus.PENDING, *_in(Approval.submitter_id, people))
        .order_by(waiting, Approval.id)
    )
    return session.execute(stmt.limit(limit) if limit else stmt).all()


def _flag(condition: ColumnElement[bool]) -> Any:
    """1 where `condition` holds, else 0: compared in the database, so the rows carry no times to parse."""
    return case((condition, 1), else_=0)


def todos_due(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(owner_id, id, closed_by_due 1/0) of owned to-dos due in [start, end)."""
    return session.execute(
        select(Todo.owner_id, Todo.id,
               _flag(and_(Todo.done_at.is_not(None), Todo.done_at <= Todo.due_at)).label("closed_by_due"))
        .where(Todo.owner_id.is_not(None), Todo.due_at >= start, Todo.due_at < end, *_in(Todo.owner_id, people))
    ).all()


def todos_created(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(owner_id, id, no_due 1/0) of owned to-dos created in [start, end)."""
    return session.execute(
        select(Todo.owner_id, Todo.id, _flag(Todo.due_at.is_(None)).label("no_due"))
        .where(Todo.owner_id.is_not(None), Todo.created_at >= start, Todo.created_at < end,
               *_in(Todo.owner_id, people))
    ).all()


def todos_closed(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(owner_id, id) of to-dos closed in [start, end)."""
    return session.execute(
        select(Todo.owner_id, Todo.id)
        .where(Todo.status == TodoStatus.DONE, Todo.done_at >= start, Todo.done_at < end,
               *_in(Todo.owner_id, people))
    ).all()


def todos_overdue(session: Session, people: People, at: datetime, limit: int | None = None) -> Sequence[Row[Any]]:
    """The 待办 panel: owned to-dos open at `at` and past their due time, most overdue first:
    (owner_id, Todo, customer name)."""
    stmt = (
        select(Todo.owner_id, Todo, Customer.name)
        .outerjoin(Customer, Customer.id == Todo.customer_id)
        .where(Todo.owner_id.is_not(None), Todo.due_at < at, Todo.created_at < at,
               or_(Todo.done_at.is_(None), Todo.done_at > at), *_in(Todo.owner_id, people))
        .order_by(Todo.due_at, Todo.id)
    )
    return session.execute(stmt.limit(limit) if limit else stmt).all()


def todos_escalated(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(owner_id, id, escalation_level) of owned to-dos due in [start, end) whose escalation fired."""
    return session.execute(
        select(Todo.owner_id, Todo.id, Todo.escalation_level)
        .where(Todo.escalation_level > 0, Todo.due_at >= start, Todo.due_at < end, Todo.owner_id.is_not(None),
               *_in(Todo.owner_id, people))
    ).all()


def handoffs(session: Session, people: People, since: datetime | None, until: datetime) -> Sequence[Row[Any]]:
    """(customer owner, id, created_at, claimed_at, status) of to-dos offered to a role, created in
    [since, until) (since None: any time before); a hand-off counts for the owner of its customer."""
    after = [] if since is None else [Todo.created_at >= since]
    return session.execute(
        select(Customer.owner_id, Todo.id, Todo.created_at, Todo.claimed_at, Todo.status)
        .outerjoin(Customer, Customer.id == Todo.customer_id)
        .where(Todo.role.is_not(None), *after, Todo.created_at < until,
               *_in(Customer.owner_id, people))
    ).all()


def risks(session: Session, people: People, start: datetime, end: datetime,
          limit: int | None = None) -> Sequence[Row[Any]]:
    """The 风险 panel: (customer owner, RiskEvent, customer name) of risks open now or raised in [start, end)."""
    stmt = (
        select(Customer.owner_id, RiskEvent, Customer.name)
        .outerjoin(Customer, Customer.id == RiskEvent.customer_id)
        .where(RiskEvent.created_at < end,
               or_(RiskEvent.status == RiskStatus.OPEN, RiskEvent.created_at >= start),
               *_in(Customer.owner_id, people))
        .order_by(RiskEvent.created_at.desc())
    )
    return session.execute(stmt.limit(limit) if limit else stmt).all()


def open_risks_by_severity(session: Session, people: People) -> Sequence[Row[Any]]:
    """(severity, count) of open risk events (the 风险 panel's tiles)."""
    stmt = select(RiskEvent.severity, func.count()).select_from(RiskEvent)
    if people is not None:  # the company's count needs no owner, so no join to every risk's customer
        stmt = stmt.outerjoin(Customer, Customer.id == RiskEvent.customer_id).where(*_in(Customer.owner_id, people))
    return session.execute(stmt.where(RiskEvent.status == RiskStatus.OPEN).group_by(RiskEvent.severity)).all()


def overdue_by_owner(session: Session, people: People, at: datetime) -> Sequence[Row[Any]]:
    """(owner_id, count) of owned to-dos open at `at` past their due time."""
    return session.execute(
        select(Todo.owner_id, func.count())
        .where(Todo.owner_id.is_not(None), Todo.due_at < at, Todo.created_at < at,
               or_(Todo.done_at.is_(None), Todo.done_at > at), *_in(Todo.owner_id, people))
        .group_by(Todo.owner_id)
    ).all()


def open_risks_by_owner(session: Session, people: People, end: datetime,
                        severities: Collection[str]) -> Sequence[Row[Any]]:
    """(customer owner, count) of risk events of `severities` raised before `end` and open now."""
    return session.execute(
        select(Customer.owner_id, func.count())
        .select_from(RiskEvent).outerjoin(Customer, Customer.id == RiskEvent.customer_id)
        .where(RiskEvent.status == RiskStatus.OPEN, RiskEvent.created_at < end,
               RiskEvent.severity.in_(list(severities)), *_in(Customer.owner_id, people))
        .group_by(Customer.owner_id)
    ).all()


def risks_raised(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(customer owner, id, settled 1/0: closed or an outcome recorded) of risks raised in [start, end)."""
    settled = or_(RiskEvent.status != RiskStatus.OPEN, and_(RiskEvent.outcome.is_not(None), RiskEvent.outcome != ""))
    return session.execute(
        select(Customer.owner_id, RiskEvent.id, _flag(settled).label("settled"))
        .outerjoin(Customer, Customer.id == RiskEvent.customer_id)
        .where(RiskEvent.created_at >= start, RiskEvent.created_at < end, *_in(Customer.owner_id, people))
    ).all()


def count_overdue(session: Session, people: People, at: datetime) -> int:
    """How many owned to-dos are open at `at` past their due time (the 待办 panel's count)."""
    return int(session.scalar(
        select(func.count()).select_from(Todo)
        .where(Todo.owner_id.is_not(None), Todo.due_at < at, Todo.created_at < at,
               or_(Todo.done_at.is_(None), Todo.done_at > at), *_in(Todo.owner_id, people))
    ) or 0)


def count_open_approvals(session: Session, people: People) -> int:
    """How many approvals are open (the 审批看板's count)."""
    return int(session.scalar(
        select(func.count()).select_from(Approval)
        .where(Approval.status == ApprovalStatus.PENDING, *_in(Approval.submitter_id, people))
    ) or 0)


def silent_customers(session: Session, people: People, before: datetime) -> Sequence[Row[Any]]:
    """(owner_id, count) of active customers whose last activity is older than `before`."""
    # For the company too the owners drive the search (owner IN the directory, not IS NOT NULL): one short
    # index-only range per owner on ix_customers_owner_silent, instead of every active customer and a sort.
    owners = [Customer.owner_id.in_(select(User.id))] if people is None else _in(Customer.owner_id, people)
    return session.execute(
        select(Customer.owner_id, func.count())
        .where(Customer.status == CustomerStatus.ACTIVE, Customer.last_activity_at < before, *owners)
        .group_by(Customer.owner_id)
    ).all()


def released_to_pool(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(former owner, customer id, at) of customers salesbot released to the public pool in [start, end)."""
    return session.execute(
        select(AuditEntry.before, AuditEntry.entity_id, AuditEntry.at)
        .where(AuditEntry.entity == "customer", AuditEntry.field == "owner_id", AuditEntry.actor == "salesbot",
               AuditEntry.after.is_(None), AuditEntry.at >= start, AuditEntry.at < end,
               *_in(AuditEntry.before, people))
    ).all()


def reassignments(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(former owner, customer id) of customers moved from one owner to another in [start, end); a customer
    that moved with its lead (noted "lead L12") is left out: the lead's move counts (report_deals.lead_moves)."""
    return session.execute(
        select(AuditEntry.before, AuditEntry.entity_id)
        .where(AuditEntry.entity == "customer", AuditEntry.field == "owner_id", AuditEntry.before.is_not(None),
               AuditEntry.after.is_not(None), AuditEntry.at >= start, AuditEntry.at < end,
               or_(AuditEntry.note.is_(None), AuditEntry.note.not_like("lead L%")),
               *_in(AuditEntry.before, people))
    ).all()


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a) / timedelta(hours=1)
