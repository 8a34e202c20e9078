"""Rows for the health tests, inserted directly with known times so each figure can be counted by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from storage.models import Approval, ApprovalStep, AuditEntry, Customer, RiskEvent, Todo


def customer(session: Session, name: str, owner: str | None, at: datetime, last: datetime | None = None) -> Customer:
    c = Customer(name=name, owner_id=owner, created_at=at, updated_at=at, last_activity_at=last or at)
    session.add(c)
    session.flush()
    return c


def approval(session: Session, c: Customer, submitter: str, created: datetime, *, hold: list[tuple[str, float]],
             status: str = "approved", note: str = "标准报价", pending: str | None = None,
             escalation: int = 0, sla_hours: int = 24) -> Approval:
    """An approval whose steps were held by (approver, hours) in turn; `pending` adds a current step."""
    a = Approval(kind="quote", customer_id=c.id, submitter_id=submitter, amount=Decimal(100000), note=note,
                 status="pending" if pending else status, created_at=created)
    session.add(a)
    session.flush()
    at = created
    for i, (who, hours) in enumerate(hold):
        end = at + timedelta(hours=hours)
        last = i == len(hold) - 1 and not pending
        session.add(ApprovalStep(approval_id=a.id, position=i, approver_spec=f"user:{who}", approver_id=who,
                                 status="rejected" if last and status == "rejected" else "approved",
                                 sla_hours=sla_hours, started_at=at, decided_at=end, decided_by=who,
                                 escalation_level=escalation))
        at = end
    if pending:
        session.add(ApprovalStep(approval_id=a.id, position=len(hold), approver_spec=f"user:{pending}",
                                 approver_id=pending, status="pending", sla_hours=sla_hours, started_at=at,
                                 escalation_level=escalation))
    else:
        a.decided_at = at
        a.times_returned = int(status == "rejected")
    session.flush()
    return a


def todo(session: Session, owner: str | None, created: datetime, due: datetime | None, done: datetime | None = None,
         *, role: str | None = None, c: Customer | None = None, claimed: datetime | None = None,
         escalation: int = 0, title: str = "回访客户") -> Todo:
    t = Todo(owner_id=owner, role=role, title=title, status="done" if done else "open", created_at=created,
             due_at=due, done_at=done, claimed_at=claimed, customer_id=c.id if c else None,
             escalation_level=escalation)
    session.add(t)
    session.flush()
    return t


def risk(session: Session, c: Customer, at: datetime, severity: str = "high", status: str = "open",
         outcome: str | None = None) -> RiskEvent:
    r = RiskEvent(customer_id=c.id, rule="competitor", label="竞品威胁", severity=severity, keyword="友商",
                  text="友商更便宜", status=status, created_at=at, last_hit_at=at, outcome=outcome)
    session.add(r)
    session.flush()
    return r


def released(session: Session, c: Customer, owner: str, at: datetime) -> None:
    session.add(AuditEntry(at=at, actor="salesbot", entity="customer", entity_id=str(c.id), field="owner_id",
                           before=owner, after=None, note="no activity for 45 days: released to the public pool"))
    c.owner_id, c.status = None, "public"
    session.flush()
