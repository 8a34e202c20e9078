"""Queries behind the lead and opportunity metrics and the board's 线索 and 商机漏斗 pages.

Like storage/report.py, every query takes `people` (the directory ids in scope, None for the company)
and applies it in its WHERE clause. Lead figures read the audit log: every owner change of a lead is a
row (`owner_id` before → after), so an assignment that was later moved (改派, 交接, back to the pool)
still counts for the rep it was given to. Opportunity figures read the stage moves of the audit log
(`stage` before → after); an opportunity counts for its owner.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, load_only

from storage.models import AuditEntry, Customer, Lead, Opportunity, OpportunityEvidence, User
from storage.states import LeadStatus

People = Collection[str] | None
OPEN = "open"
LEAD_EVENTS = (LeadStatus.CONTACTED, LeadStatus.INVALID)
CHUNK = 1000  # ids per IN list


def _in(column: Any, people: People) -> list[ColumnElement[bool]]:
    return [] if people is None else [column.in_(list(people))]


# --- leads ---------------------------------------------------------------------------------------

def lead_events(session: Session, people: People, since: datetime, until: datetime) -> Sequence[Row[Any]]:
    """The history of the leads given to someone in scope in [since, until), up to `until`, by lead:
    (lead id as text, audit id, at, field, before, after). Rows are the lead's owner changes to or from
    people in scope and its moves to contacted or invalid."""
    given = (select(AuditEntry.entity_id)
             .where(AuditEntry.entity == "lead", AuditEntry.field == "owner_id", AuditEntry.after.is_not(None),
                    AuditEntry.at >= since, AuditEntry.at < until, *_in(AuditEntry.after, people)))
    mine = [] if people is None else [or_(AuditEntry.after.in_(list(people)), AuditEntry.before.in_(list(people)))]
    owner_rows = and_(AuditEntry.field == "owner_id", *mine)
    contact_rows = and_(AuditEntry.field == "status", AuditEntry.after.in_([str(s) for s in LEAD_EVENTS]))
    return session.execute(
        select(AuditEntry.entity_id, AuditEntry.id, AuditEntry.at, AuditEntry.field, AuditEntry.before,
               AuditEntry.after)
        .where(AuditEntry.entity == "lead", AuditEntry.entity_id.in_(given), AuditEntry.at >= since,
               AuditEntry.at < until, or_(owner_rows, contact_rows))
        .order_by(AuditEntry.entity_id, AuditEntry.at, AuditEntry.id)
    ).all()


def lead_times(session: Session, lead_ids: Collection[int]) -> dict[int, tuple[datetime | None, datetime | None, str]]:
    """(assigned_at, contacted_at, status) of these leads: their latest assignment's times."""
    ids, out = sorted(lead_ids), {}
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(select(Lead.id, Lead.assigned_at, Lead.contacted_at, Lead.status)
                               .where(Lead.id.in_(ids[i:i + CHUNK])))
        out.update({lead_id: (assigned, contacted, status) for lead_id, assigned, contacted, status in rows})
    return out


def lead_moves(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(former owner, lead id) of leads moved from one rep to another (改派, 交接) in [start, end)."""
    return session.execute(
        select(AuditEntry.before, AuditEntry.entity_id)
        .where(AuditEntry.entity == "lead", AuditEntry.field == "owner_id", AuditEntry.before.is_not(None),
               AuditEntry.after.is_not(None), AuditEntry.at >= start, AuditEntry.at < end,
               *_in(AuditEntry.before, people))
    ).all()


def leads_reclaimed(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(former owner, lead id) of leads salesbot took back to the pool (not contacted in time) in [start, end)."""
    return session.execute(
        select(AuditEntry.before, AuditEntry.entity_id)
        .where(AuditEntry.entity == "lead", AuditEntry.field == "owner_id", AuditEntry.actor == "salesbot",
               AuditEntry.before.is_not(None), AuditEntry.after.is_(None), AuditEntry.at >= start,
               AuditEntry.at < end, *_in(AuditEntry.before, people))
    ).all()


def leads_waiting(session: Session, people: People, limit: int | None = None) -> Sequence[Row[Any]]:
    """The 线索 page's list: assigned leads not contacted yet, assigned longest ago first:
    (Lead, owner name)."""
    shown = load_only(Lead.company, Lead.industry, Lead.owner_id, Lead.assigned_at)  # what the list shows
    stmt = (select(Lead, User.name).options(shown).join(User, User.id == Lead.owner_id)
            .where(Lead.status == LeadStatus.ASSIGNED, *_in(Lead.owner_id, people))
            .order_by(Lead.assigned_at, Lead.id))
    return session.execute(stmt.limit(limit) if limit else stmt).all()


def count_leads_waiting(session: Session, people: People, assigned_before: datetime | None = None) -> int:
    """How many assigned leads wait for their first contact (only those assigned before a time, if given)."""
    before = [] if assigned_before is None else [Lead.assigned_at < assigned_before]
    return int(session.scalar(
        select(func.count()).select_from(Lead)
        .where(Lead.status == LeadStatus.ASSIGNED, *before, *_in(Lead.owner_id, people))
    ) or 0)


# --- opportunities -------------------------------------------------------------------------------

def stage_rows(session: Session, people: People, since: datetime, until: datetime,
               entering: str | None = None) -> Sequence[Row[Any]]:
    """Stage moves of opportunities in scope, oldest first: (opportunity id, owner, created_at, audit id,
    at, before, after, note). Without `entering`: the moves in [since, until). With it: every move up
    to `until` of the opportunities that entered that stage in [since, until)."""
    base = [AuditEntry.entity == "opportunity", AuditEntry.field == "stage"]
    if entering is None:
        window = [AuditEntry.at >= since, AuditEntry.at < until]
    else:
        entered = select(AuditEntry.entity_id).where(*base, AuditEntry.after == entering, AuditEntry.at >= since,
                                                     AuditEntry.at < until)
        window = [AuditEntry.entity_id.in_(entered), AuditEntry.at < until]
    return session.execute(
        select(Opportunity.id, Opportunity.owner_id, Opportunity.created_at, AuditEntry.id, AuditEntry.at,
               AuditEntry.before, AuditEntry.after, AuditEntry.note)
        .join(Opportunity, _audited_opportunity())
        .where(*base, *window, *_scoped_audit(people))
        .order_by(Opportunity.id, AuditEntry.at, AuditEntry.id)
    ).all()


def opportunities_opened(session: Session, people: People, since: datetime, until: datetime) -> Sequence[Row[Any]]:
    """(owner, id, created_at) of opportunities opened in [since, until) (they enter the first stage)."""
    return session.execute(
        select(Opportunity.owner_id, Opportunity.id, Opportunity.created_at)
        .where(Opportunity.created_at >= since, Opportunity.created_at < until, *_in(Opportunity.owner_id, people))
    ).all()


def _audited_opportunity() -> ColumnElement[bool]:
    """An opportunity's audit rows, joined on its primary key (the planner looks each one up, where a
    join on the id cast to text walked the owner index for every audit row)."""
    return Opportunity.id == cast(AuditEntry.entity_id, Integer)


def _scoped_audit(people: People) -> list[ColumnElement[bool]]:
    """With a scope, the audit rows of the opportunities people in scope own, found through
    (entity, entity_id) — without it SQLite read every opportunity's audit rows and dropped the others'."""
    if people is None:
        return []
    owned = select(cast(Opportunity.id, String)).where(Opportunity.owner_id.in_(list(people)))
    return [Opportunity.owner_id.in_(list(people)), AuditEntry.entity_id.in_(owned)]


def flags_raised(session: Session, people: People, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """(owner, opportunity id, flag) of stage-dwell flags (yellow, red) raised in [start, end)."""
    return session.execute(
        select(Opportunity.owner_id, Opportunity.id, AuditEntry.after)
        .join(Opportunity, _audited_opportunity())
        .where(AuditEntry.entity == "opportunity", AuditEntry.field == "flag", AuditEntry.after.is_not(None),
               AuditEntry.at >= start, AuditEntry.at < end, *_scoped_audit(people))
    ).all()


def evidence_added(session: Session, opportunity_ids: Collection[int], until: datetime) -> Sequence[Row[Any]]:
    """(opportunity id, kind) of evidence attached to these opportunities before `until`."""
    if not opportunity_ids:
        return []
    return session.execute(
        select(OpportunityEvidence.opportunity_id, OpportunityEvidence.kind, OpportunityEvidence.added_at)
        .where(OpportunityEvidence.opportunity_id.in_(list(opportunity_ids)), OpportunityEvidence.added_at <= until)
    ).all()


def _open(people: People) -> ColumnElement[bool]:
    """Open opportunities. With a scope, `status || ''` keeps the planner off the status index (all the
    company's open opportunities, filtered by owner row by row) and on the owner_id index (the team's)."""
    return (Opportunity.status if people is None else Opportunity.status + "") == OPEN


def funnel(session: Session, people: People, limits: Mapping[str, tuple[datetime, datetime]]) -> Sequence[Row[Any]]:
    """The 商机漏斗 tiles: (stage, count, amount, yellow, red, oldest entry) of open opportunities per stage;
    `limits` gives each stage with a dwell limit the entry times before which it is yellow and red."""
    def past(index: int) -> Any:
        whens = [(and_(Opportunity.stage == stage, Opportunity.entered_stage_at < times[index]), 1)
                 for stage, times in limits.items()]
        return func.sum(case(*whens, else_=0)) if whens else literal(0)
    return session.execute(
        select(Opportunity.stage, func.count(), func.sum(Opportunity.amount), past(0), past(1),
               func.min(Opportunity.entered_stage_at))
        .where(_open(people), *_in(Opportunity.owner_id, people))
        .group_by(Opportunity.stage)
    ).all()


def open_in_stage(session: Session, people: People, stage: str | None,
                  limit: int | None = None) -> Sequence[Row[Any]]:
    """Open opportunities (of one stage, or all), in their stage longest first: (Opportunity, owner name,
    customer name)."""
    where = [] if stage is None else [Opportunity.stage == stage]
    stmt = (select(Opportunity, User.name, Customer.name)
            .outerjoin(User, User.id == Opportunity.owner_id)
            .join(Customer, Customer.id == Opportunity.customer_id)
            .where(_open(people), *where, *_in(Opportunity.owner_id, people))
            .order_by(Opportunity.entered_stage_at, Opportunity.id))
    return session.execute(stmt.limit(limit) if limit else stmt).all()
