"""Leads: keys for duplicate checks, the per-rep counters assignment reads, and lead transitions.

Assignment must not scan open leads (there may be 100,000): a rep's load is a counter row in
lead_loads, the daily cap and industry fuse read lead_daily rows of today, and the win rate reads
closed customers through an index. Every lead transition goes through `move`, which keeps the
counters in step with the status in the same transaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, func, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.common import insert_ignore
from storage.models import Customer, Lead, LeadDaily, LeadLoad, PoolClaim
from storage.states import LEAD, CustomerStatus, LeadStatus

# statuses that hold a rep's attention (counted in lead_loads)
HELD = (LeadStatus.ASSIGNED, LeadStatus.CONTACTED)
_REGION = re.compile(r"[（(][^）)]{1,8}[）)]")
_LEGAL = re.compile(r"(股份有限公司|有限责任公司|有限公司|集团|公司|股份|有限|co\.?,?\s*ltd\.?|inc\.?|ltd\.?)")
_NOISE = re.compile(r"[\s\W_]+")


def company_key(name: str) -> str:
    """A company name reduced for duplicate checks: full-width folded, （上海）-style regions, legal
    suffixes (有限公司, 股份…), spaces and punctuation removed, lower case."""
    text = unicodedata.normalize("NFKC", name).lower()
    text = _REGION.sub("", text)
    text = _LEGAL.sub("", text)
    return _NOISE.sub("", text)


def phone_key(phone: str) -> str:
    """Digits only, without a +86 / 0086 country prefix."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits


def parse_code(text: str) -> int | None:
    match = re.fullmatch(r"[Ll]?(\d{1,9})", text.strip())
    return int(match.group(1)) if match else None


def get(session: Session, lead_id: int) -> Lead | None:
    return session.get(Lead, lead_id)


def by_client_key(session: Session, source: str, client_key: str) -> Lead | None:
    stmt = select(Lead).where(Lead.source == source, Lead.client_key == client_key)
    return session.scalars(stmt).first()


def add(session: Session, values: dict[str, Any], at: datetime) -> Lead | None:
    """Store a new lead once per (source, client_key); None if that key was seen before."""
    key = company_key(values["company"])
    row = dict(values, company_key=key, company_prefix=key[:2], phone_key=phone_key(values.get("phone", "")),
               status=LeadStatus.NEW, created_at=at, reason={}, stale=False, sla_level=0)
    if row.get("client_key"):
        if not insert_ignore(session, Lead, row, ["source", "client_key"]):
            return None
        return by_client_key(session, row["source"], row["client_key"])
    lead = Lead(**row)
    session.add(lead)
    session.flush()
    return lead


def customer_matching(session: Session, lead: Lead) -> Customer | None:
    """An existing customer with the same company (normalised) or phone as this lead."""
    conditions = [Lead.company_key == lead.company_key] if lead.company_key else []
    if len(lead.phone_key) >= 7:
        conditions.append(Lead.phone_key == lead.phone_key)
    for condition in conditions:
        stmt = (select(Customer).join(Lead, Lead.customer_id == Customer.id)
                .where(condition, Lead.id != lead.id, Customer.status != CustomerStatus.CLOSED).order_by(Customer.id).limit(1))
        found = session.scalars(stmt).first()
        if found is not None:
            return found
    return next((c for c in _named_alike(session, lead) if company_key(c.name) == lead.company_key), None)


def _named_alike(session: Session, lead: Lead) -> list[Customer]:
    """Customers (also those not from a lead, e.g. made by 关联) whose name starts like this company's:
    a range over the name index, so the cost follows the few names sharing the first characters."""
    start = unicodedata.normalize("NFKC", lead.company).strip()[:2]
    if len(start) < 2:
        return []
    stmt = (select(Customer).where(Customer.name >= start, Customer.name < start + "\U0010ffff",
                                   Customer.status != CustomerStatus.CLOSED).order_by(Customer.id).limit(200))
    return list(session.scalars(stmt))


def customers_alike(session: Session, lead: Lead, limit: int = 5) -> list[Customer]:
    """Customers of earlier leads whose company key nearly matches (same first two characters, then
    contained or one character apart) — read through the prefix index, not a scan."""
    if len(lead.company_key) < 2:
        return []
    stmt = (select(Lead.company_key, Customer).join(Customer, Lead.customer_id == Customer.id)
            .where(Lead.company_prefix == lead.company_prefix, Lead.id != lead.id, Customer.status != CustomerStatus.CLOSED)
            .order_by(Customer.id).limit(200))
    found: dict[int, Customer] = {}
    for key, customer in session.execute(stmt):
        if _alike(lead.company_key, key):
            found.setdefault(customer.id, customer)
    for customer in _named_alike(session, lead):
        if _alike(lead.company_key, company_key(customer.name)):
            found.setdefault(customer.id, customer)
    return list(found.values())[:limit]


def _alike(a: str, b: str) -> bool:
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return True
    return len(a) == len(b) >= 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1


# ------------------------------------------------------------------------------------------ counters


def loads(session: Session, user_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(open, stale) leads per rep, from the counters."""
    ids = list(user_ids)
    stmt = select(LeadLoad.user_id, LeadLoad.open_leads, LeadLoad.stale_leads).where(LeadLoad.user_id.in_(ids))
    return {uid: (o, s) for uid, o, s in session.execute(stmt)}


def daily(session: Session, user_ids: Iterable[str], day: str, industry: str) -> dict[str, tuple[int, int]]:
    """(assigned today, of them in this industry) per rep."""
    ids = list(user_ids)
    same = func.sum(case((LeadDaily.industry == industry, LeadDaily.assigned), else_=0))
    stmt = (select(LeadDaily.user_id, func.sum(LeadDaily.assigned), same)
            .where(LeadDaily.day == day, LeadDaily.user_id.in_(ids)).group_by(LeadDaily.user_id))
    return {uid: (int(total or 0), int(ind or 0)) for uid, total, ind in session.execute(stmt)}


def win_rates(session: Session, user_ids: Iterable[str], industry: str, since: datetime) -> dict[str, float]:
    """Share of won among customers of this industry closed (won or lost) since then, per owner."""
    if not industry:
        return {}
    won = func.sum(case((Customer.stage == "won", 1), else_=0))
    stmt = (select(Customer.owner_id, won, func.count(Customer.id))
            .where(Customer.industry == industry, Customer.stage.in_(("won", "lost")), Customer.updated_at >= since,
                   Customer.owner_id.in_(list(user_ids)))
            .group_by(Customer.owner_id))
    return {uid: int(w or 0) / n for uid, w, n in session.execute(stmt) if uid and n}


def _bump_load(session: Session, user_id: str, open_delta: int = 0, stale_delta: int = 0) -> None:
    insert_ignore(session, LeadLoad, dict(user_id=user_id, open_leads=0, stale_leads=0), ["user_id"])
    session.execute(update(LeadLoad).where(LeadLoad.user_id == user_id)
                    .values(open_leads=LeadLoad.open_leads + open_delta, stale_leads=LeadLoad.stale_leads + stale_delta)
                    .execution_options(synchronize_session=False))


def count_assignment(session: Session, user_id: str, day: str, industry: str) -> None:
    """One more lead assigned to this rep today (the daily cap and industry fuse read it)."""
    insert_ignore(session, LeadDaily, dict(user_id=user_id, day=day, industry=industry, assigned=0),
                  ["user_id", "day", "industry"])
    session.execute(update(LeadDaily)
                    .where(LeadDaily.user_id == user_id, LeadDaily.day == day, LeadDaily.industry == industry)
                    .values(assigned=LeadDaily.assigned + 1).execution_options(synchronize_session=False))


# ------------------------------------------------------------------------------------------ transitions
# (the allowed moves are storage.states.LEAD)

class TransitionRefused(Exception):
    """The lead is no longer in the state the caller read (someone else moved it first)."""


def move(session: Session, lead: Lead, status: str, at: datetime, actor: str, *, owner_id: str | None = None,
         note: str | None = None, **values: Any) -> None:
    """Move a lead to `status` (and owner) with a conditional UPDATE, keep the counters, audit it."""
    if not LEAD.allows(lead.status, status):
        raise TransitionRefused(f"{lead.code}: {lead.status} -> {status} is not allowed")
    before_status, before_owner, was_stale = lead.status, lead.owner_id, lead.stale
    new_owner = owner_id if status in (*HELD, LeadStatus.FOLLOWUP) else None
    result = session.execute(
        update(Lead).where(Lead.id == lead.id, Lead.status == before_status)
        .values(status=status, owner_id=new_owner, **values).execution_options(synchronize_session=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise TransitionRefused(f"{lead.code} changed meanwhile")
    session.refresh(lead)
    if before_status in HELD and before_owner:
        _bump_load(session, before_owner, *((0, -1) if was_stale else (-1, 0)))
    if status in HELD and new_owner:
        _bump_load(session, new_owner, *((0, 1) if lead.stale else (1, 0)))
    if before_status != status:
        audit.record(session, at, actor, "lead", lead.id, "status", before_status, status, note)
    if before_owner != new_owner:
        audit.record(session, at, actor, "lead", lead.id, "owner_id", before_owner, new_owner, note)


def mark_stale(session: Session, lead: Lead, at: datetime) -> bool:
    """An assigned lead untouched past stale_hours: it stops lowering the rep's load and counts against them."""
    result = session.execute(update(Lead).where(Lead.id == lead.id, Lead.status == LeadStatus.ASSIGNED, Lead.stale.is_(False))
                             .values(stale=True).execution_options(synchronize_session=False))
    if not result.rowcount or not lead.owner_id:  # type: ignore[attr-defined]
        return False
    _bump_load(session, lead.owner_id, -1, 1)
    session.refresh(lead)
    return True


def clear_stale(session: Session, lead: Lead) -> None:
    if lead.stale and lead.status in HELD and lead.owner_id:
        _bump_load(session, lead.owner_id, 1, -1)
    lead.stale = False


def for_customer(session: Session, customer_id: int) -> list[Lead]:
    return list(session.scalars(select(Lead).where(Lead.customer_id == customer_id).order_by(Lead.id)))


def held_by(session: Session, user_id: str) -> list[Lead]:
    stmt = select(Lead).where(Lead.owner_id == user_id, Lead.status.in_(HELD)).order_by(Lead.id)
    return list(session.scalars(stmt))


def in_pool(session: Session, limit: int = 50) -> list[Lead]:
    return list(session.scalars(select(Lead).where(Lead.status == LeadStatus.POOL).order_by(Lead.id).limit(limit)))


def due_for_contact_check(session: Session, now: datetime, limit: int) -> list[Lead]:
    stmt = (select(Lead).where(Lead.status == LeadStatus.ASSIGNED, Lead.next_check_at <= now)
            .order_by(Lead.next_check_at, Lead.id).limit(limit))
    return list(session.scalars(stmt))


def set_sla_level(session: Session, lead: Lead, from_level: int, to_level: int, next_check_at: datetime | None) -> bool:
    """Claim one level of the first-contact ladder (exactly once per level)."""
    result = session.execute(update(Lead).where(Lead.id == lead.id, Lead.status == LeadStatus.ASSIGNED,
                                                Lead.sla_level == from_level)
                             .values(sla_level=to_level, next_check_at=next_check_at)
                             .execution_options(synchronize_session=False))
    if result.rowcount:  # type: ignore[attr-defined]
        session.refresh(lead)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def add_claim(session: Session, user_id: str, at: datetime, reason: str, *, lead_id: int | None = None,
              customer_id: int | None = None) -> None:
    session.add(PoolClaim(user_id=user_id, lead_id=lead_id, customer_id=customer_id, reason=reason, claimed_at=at))
    session.flush()


def claims_since(session: Session, user_id: str, since: datetime) -> int:
    stmt = select(func.count(PoolClaim.id)).where(PoolClaim.user_id == user_id, PoolClaim.claimed_at >= since)
    return int(session.scalar(stmt) or 0)


def leads_between(session: Session, start: datetime, end: datetime,
                  owners: Collection[str] | None = None) -> Sequence[Row[Any]]:
    """The columns the fairness report reads of the leads created in [start, end) (owned by one of
    `owners`, if given), in one Core select (no ORM objects): (status, owner_id, budget, urgency,
    assigned_at, contacted_at, customer_stage), the stage of the lead's customer (None without one)."""
    mine = [] if owners is None else [Lead.owner_id.in_(list(owners))]
    stmt = (select(Lead.status, Lead.owner_id, Lead.budget, Lead.urgency, Lead.assigned_at, Lead.contacted_at,
                   Customer.stage.label("customer_stage"))
            .outerjoin(Customer, Customer.id == Lead.customer_id)
            .where(Lead.created_at >= start, Lead.created_at < end, *mine)
            .order_by(Lead.id))
    return session.execute(stmt).all()


def created_since(session: Session, source: str, since: datetime) -> int:
    """Leads a source submitted since then (the per-source rate limit of the intake API)."""
    stmt = select(func.count(Lead.id)).where(Lead.source == source, Lead.created_at >= since)
    return int(session.scalar(stmt) or 0)
