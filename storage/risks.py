"""Risk events: risks recognised in customers' words, joined while a repeat falls inside the cooldown."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.batch_lookups import among, transaction_cache
from storage.models import Customer, RiskEvent, RiskVote
from storage.states import RiskStatus


def get(session: Session, event_id: int) -> RiskEvent | None:
    return session.get(RiskEvent, event_id)


def lock_customer(session: Session, customer_id: int) -> None:
    """Hold the customer's row until commit, so two workers scanning words of the same customer
    decide "join or raise" one after the other (SQLite already serializes writers). Locked once per
    transaction: a batch of archived messages meets the same customers again and again."""
    lock_customers(session, [customer_id])


def lock_customers(session: Session, customer_ids: Iterable[int]) -> None:
    """lock_customer for many in one statement (in id order, so two batches never deadlock)."""
    held = transaction_cache(session, "risk_locks")
    wanted = sorted(set(customer_ids) - held.keys())
    if not wanted:
        return
    session.execute(select(Customer.id).where(among(session, Customer.id, wanted)).order_by(Customer.id).with_for_update())
    held.update(dict.fromkeys(wanted))


def open_event(session: Session, rule: str, customer_id: int, since: datetime) -> RiskEvent | None:
    """The open event of this rule on this customer last hit at or after `since`, if any."""
    loaded = _preloaded(session, since)
    if loaded is not None and customer_id in loaded.customers:
        event = loaded.newest.get((rule, customer_id))
        if event is None:
            return None
        if event.status == RiskStatus.OPEN and event.last_hit_at >= since:
            return event
        # closed meanwhile in this transaction: an older one may still qualify, ask the database
    stmt = (
        select(RiskEvent)
        .where(RiskEvent.rule == rule, RiskEvent.customer_id == customer_id, RiskEvent.status == RiskStatus.OPEN,
               RiskEvent.last_hit_at >= since)
        .order_by(RiskEvent.last_hit_at.desc(), RiskEvent.id.desc())
    )
    return session.scalars(stmt.limit(1)).first()


@dataclass
class _OpenEvents:
    """Open events of some customers last hit at or after `since`: the newest per (rule, customer)."""

    since: datetime
    customers: set[int] = field(default_factory=set)
    newest: dict[tuple[str, int], RiskEvent] = field(default_factory=dict)

    def keep(self, event: RiskEvent) -> None:
        """open_event's order: the latest hit first, then the highest id."""
        key = (event.rule, event.customer_id or 0)
        known = self.newest.get(key)
        if known is None or (event.last_hit_at, event.id) > (known.last_hit_at, known.id):
            self.newest[key] = event


def preload_open_events(session: Session, customer_ids: Collection[int], since: datetime) -> None:
    """Load in one query the open events of these customers last hit at or after `since`; open_event
    answers from them for the rest of the transaction (add_event adds the new ones): a batch of
    archived messages asks for the same customers' events again and again."""
    cache = transaction_cache(session, "open_risk_events")
    loaded: _OpenEvents | None = cache.get("events")
    if loaded is None or loaded.since != since:
        loaded = cache["events"] = _OpenEvents(since)
    wanted = set(customer_ids) - loaded.customers
    if not wanted:
        return
    for event in session.scalars(select(RiskEvent).where(among(session, RiskEvent.customer_id, wanted),
                                                         RiskEvent.status == RiskStatus.OPEN,
                                                         RiskEvent.last_hit_at >= since)):
        loaded.keep(event)
    loaded.customers |= wanted


def _preloaded(session: Session, since: datetime) -> _OpenEvents | None:
    loaded: _OpenEvents | None = transaction_cache(session, "open_risk_events").get("events")
    return loaded if loaded is not None and loaded.since == since else None


def add_event(session: Session, *, customer_id: int | None, rule: str, label: str, severity: str, keyword: str,
              text: str, message_id: int | None, at: datetime) -> RiskEvent:
    """Store a new open risk event (one hit so far)."""
    event = RiskEvent(customer_id=customer_id, rule=rule, label=label, severity=severity, keyword=keyword[:64],
                      text=text, message_id=message_id, status=RiskStatus.OPEN, hits=1, created_at=at, last_hit_at=at)
    session.add(event)
    session.flush()
    loaded: _OpenEvents | None = transaction_cache(session, "open_risk_events").get("events")
    if loaded is not None and customer_id in loaded.customers and at >= loaded.since:
        loaded.keep(event)
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


# ------------------------------------------------------------------------------ votes, closing, digest

VOTES = ("false_alarm", "useful")
RESULTS = ("recovered", "lost", "no_effect")


def vote(session: Session, event: RiskEvent, user_id: str, verdict: str, at: datetime) -> tuple[RiskVote, str | None]:
    """Record (or change) one person's vote on an event; returns the vote and the verdict it replaced."""
    if verdict not in VOTES:
        raise ValueError(verdict)
    row = session.scalars(
        select(RiskVote).where(RiskVote.event_id == event.id, RiskVote.user_id == user_id).with_for_update()
    ).first()
    if row is None:
        row = RiskVote(event_id=event.id, user_id=user_id, rule=event.rule, keyword=event.keyword, text=event.text,
                       vote=verdict, created_at=at, updated_at=at)
        session.add(row)
        session.flush()
        return row, None
    before = row.vote
    row.vote, row.updated_at = verdict, at
    return row, before


def votes_since(session: Session, since: datetime | None) -> list[RiskVote]:
    """Every vote changed at or after `since` (all of them for None), oldest first."""
    stmt = select(RiskVote).order_by(RiskVote.updated_at, RiskVote.id)
    if since is not None:
        stmt = stmt.where(RiskVote.updated_at >= since)
    return list(session.scalars(stmt))


def close(session: Session, event: RiskEvent, result: str, note: str | None, by: str, at: datetime) -> bool:
    """Close an open event with its result; False if it was already closed (a racing 结案 closes once)."""
    if result not in RESULTS:
        raise ValueError(result)
    done = session.execute(
        update(RiskEvent)
        .where(RiskEvent.id == event.id, RiskEvent.status == RiskStatus.OPEN)
        .values(status=RiskStatus.CLOSED, result=result, outcome=note or None, closed_at=at, closed_by=by,
                digest_pending=False)
        .execution_options(synchronize_session=False)
    )
    session.refresh(event)
    return bool(getattr(done, "rowcount", 0))


def open_older_than(session: Session, before: datetime, below_level: int, limit: int = 500) -> list[RiskEvent]:
    """Open events created at or before `before` whose owner has had fewer than `below_level` reminders."""
    stmt = (
        select(RiskEvent)
        .where(RiskEvent.status == RiskStatus.OPEN, RiskEvent.created_at <= before, RiskEvent.remind_level < below_level,
               RiskEvent.customer_id.is_not(None))
        .order_by(RiskEvent.created_at, RiskEvent.id)
    )
    return list(session.scalars(stmt.limit(limit)))


def pending_digest(session: Session) -> list[RiskEvent]:
    """Events of daily-digest rules not yet in a digest card, oldest first."""
    stmt = select(RiskEvent).where(RiskEvent.digest_pending.is_(True)).order_by(RiskEvent.created_at, RiskEvent.id)
    return list(session.scalars(stmt))


def similar_cases(session: Session, event: RiskEvent, industry: str | None, limit: int = 3,
                  pool: int = 200) -> tuple[list[tuple[RiskEvent, Customer]], dict[str, int]]:
    """Earlier events of the same rule on other customers, ranked by same keyword, then same industry,
    then the newest; one per customer. Also how the closed ones of the same rule ended (result -> count)."""
    stmt = (
        select(RiskEvent, Customer)
        .join(Customer, Customer.id == RiskEvent.customer_id)
        .where(RiskEvent.rule == event.rule, RiskEvent.created_at <= event.created_at, RiskEvent.id != event.id)
        .order_by(RiskEvent.created_at.desc(), RiskEvent.id.desc())
    )
    if event.customer_id is not None:
        stmt = stmt.where(RiskEvent.customer_id != event.customer_id)
    rows = list(session.execute(stmt.limit(pool)).tuples())
    tally: dict[str, int] = {}
    for past, _customer in rows:
        if past.result:
            tally[past.result] = tally.get(past.result, 0) + 1

    def rank(item: tuple[int, tuple[RiskEvent, Customer]]) -> tuple[int, int, int]:
        i, (past, customer) = item
        same_industry = bool(industry) and customer.industry == industry
        return (past.keyword != event.keyword, not same_industry, i)

    found: dict[int, tuple[RiskEvent, Customer]] = {}
    for _i, (past, customer) in sorted(enumerate(rows), key=rank):
        found.setdefault(customer.id, (past, customer))
        if len(found) == limit:
            break
    return list(found.values()), tally
