"""Risk events: risks recognised in customers' words, joined while a repeat falls inside the cooldown."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Customer, RiskEvent


def get(session: Session, event_id: int) -> RiskEvent | None:
    return session.get(RiskEvent, event_id)


def lock_customer(session: Session, customer_id: int) -> None:
    """Hold the customer's row until commit, so two workers scanning words of the same customer
    decide "join or raise" one after the other (SQLite already serializes writers)."""
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())


def open_event(session: Session, rule: str, customer_id: int, since: datetime) -> RiskEvent | None:
    """The open event of this rule on this customer last hit at or after `since`, if any."""
    stmt = (
        select(RiskEvent)
        .where(RiskEvent.rule == rule, RiskEvent.customer_id == customer_id, RiskEvent.status == "open",
               RiskEvent.last_hit_at >= since)
        .order_by(RiskEvent.last_hit_at.desc(), RiskEvent.id.desc())
    )
    return session.scalars(stmt.limit(1)).first()


def add_event(session: Session, *, customer_id: int | None, rule: str, label: str, severity: str, keyword: str,
              text: str, message_id: int | None, at: datetime) -> RiskEvent:
    """Store a new open risk event (one hit so far)."""
    event = RiskEvent(customer_id=customer_id, rule=rule, label=label, severity=severity, keyword=keyword[:64],
                      text=text, message_id=message_id, status="open", hits=1, created_at=at, last_hit_at=at)
    session.add(event)
    session.flush()
    return event


def join(event: RiskEvent, at: datetime) -> None:
    """Count one more hit on an open event."""
    event.hits += 1
    if at > event.last_hit_at:
        event.last_hit_at = at


def earlier_cases(session: Session, rule: str, other_than: int | None, before: datetime,
                  limit: int = 3) -> list[tuple[RiskEvent, Customer]]:
    """The latest events of `rule` on up to `limit` other customers, newest first, one per customer."""
    stmt = (
        select(RiskEvent, Customer)
        .join(Customer, Customer.id == RiskEvent.customer_id)
        .where(RiskEvent.rule == rule, RiskEvent.created_at <= before)
        .order_by(RiskEvent.created_at.desc(), RiskEvent.id.desc())
    )
    if other_than is not None:
        stmt = stmt.where(RiskEvent.customer_id != other_than)
    found: dict[int, tuple[RiskEvent, Customer]] = {}
    for event, customer in session.execute(stmt.limit(limit * 20)).tuples():
        found.setdefault(customer.id, (event, customer))
        if len(found) == limit:
            break
    return list(found.values())


def for_customer(session: Session, customer_id: int, limit: int = 20) -> list[RiskEvent]:
    """A customer's risk events, newest first."""
    stmt = select(RiskEvent).where(RiskEvent.customer_id == customer_id).order_by(RiskEvent.created_at.desc())
    return list(session.scalars(stmt.limit(limit)))
