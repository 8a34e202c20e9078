"""Lead assignments as the process-health metrics read them, rebuilt from the audit log.

A lead row holds only its latest assignment, so each assignment is read from the lead's owner changes:
it starts when a rep is made the owner (by the rule, a claim, 改派 or 交接) and ends when the owner
changes again (改派, 交接, back to the pool, 无效). Its first contact is the lead's `contacted_at` for the
latest assignment (exact, also when the archive check found the rep's message), else the time the move
to contacted was recorded. Metric functions here return (person, value) pairs; metrics.py makes Samples.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy.orm import Session

from handlers.health.weeks import Week
from handlers.settings import BusinessSettings
from storage import report_deals as rq
from storage.states import LeadStatus

Pairs = list[tuple[str | None, float]]
LOOKBACK_SLACK = timedelta(days=1)  # a tick that ran late still finds the assignment it belongs to


@dataclass
class Assignment:
    """One lead given to one rep: when, the first contact while they held it, and when it left them."""

    lead_id: int
    rep: str
    at: datetime
    contacted: datetime | None = None
    ended: datetime | None = None
    invalid: bool = False  # ended by 无效 (nothing left to contact)


def assignments(session: Session, people: Collection[str] | None, since: datetime, until: datetime) -> list[Assignment]:
    """Every assignment to someone in scope made in [since, until), as known at `until`; follow-ups (a lead
    of an existing customer, given to its owner, never to be contacted) are left out."""
    events = [(int(key), list(rows)) for key, rows in groupby(rq.lead_events(session, people, since, until),
                                                              key=lambda r: r[0])]
    times = rq.lead_times(session, [lead_id for lead_id, _ in events])
    out: list[Assignment] = []
    for lead_id, rows in events:
        assigned_at, contacted_at, status = times.get(lead_id, (None, None, LeadStatus.FOLLOWUP))
        if status == LeadStatus.FOLLOWUP:
            continue
        current: Assignment | None = None
        for _, _, at, field, before, after in rows:
            if field == "owner_id":
                if current is not None and current.ended is None and before == current.rep:
                    current.ended = at
                if after is not None and (people is None or after in people):
                    current = Assignment(lead_id, after, at)
                    out.append(current)
            elif current is not None and current.ended is None:
                if after == LeadStatus.CONTACTED and current.contacted is None:
                    exact = contacted_at if assigned_at == current.at and contacted_at is not None else None
                    current.contacted = exact or at
                elif after == LeadStatus.INVALID:
                    current.invalid = True
    return out


def _week_assignments(session: Session, people: Collection[str] | None, week: Week, settings: BusinessSettings,
                      memo: dict[str, Any] | None) -> list[Assignment]:
    """The assignments a week's lead figures read (once per `memo`: the metrics of one computation share it)."""
    if memo is not None and "lead_assignments" in memo:
        return memo["lead_assignments"]  # type: ignore[no-any-return]
    cfg = settings.leads
    back = timedelta(hours=max(cfg.first_contact_hours, cfg.reclaim_hours)) + LOOKBACK_SLACK
    found = assignments(session, people, week.start - back, week.as_of)
    if memo is not None:
        memo["lead_assignments"] = found
    return found


def decision(a: Assignment, limit: timedelta, as_of: datetime) -> tuple[datetime, bool, bool] | None:
    """(when it was decided, contacted within the limit, moved away first) or None while open or when
    the lead was found invalid before anyone contacted it. Decided at the contact if in time, at the
    limit if not; an assignment moved to someone else before its limit is decided when it was moved."""
    deadline = a.at + limit
    if a.contacted is not None and a.contacted <= deadline:
        return a.contacted, True, False
    if a.contacted is None and a.invalid:
        return None
    if a.contacted is None and a.ended is not None and a.ended < deadline:
        return a.ended, False, True
    return (deadline, False, False) if deadline <= as_of else None


def first_contact_within(session: Session, people: Collection[str] | None, week: Week,
                         settings: BusinessSettings, *, moved_counts: bool = False,
                         memo: dict[str, Any] | None = None) -> Pairs:
    """1/0 per assignment decided this week: first contact within [leads] first_contact_hours. With
    `moved_counts` (动作穿透率) an assignment moved away uncontacted before its limit counts as 0."""
    limit = timedelta(hours=settings.leads.first_contact_hours)
    out: Pairs = []
    for a in _week_assignments(session, people, week, settings, memo):
        found = decision(a, limit, week.as_of)
        if found is None or not week.start <= found[0] < week.as_of or (found[2] and not moved_counts):
            continue
        out.append((a.rep, float(found[1])))
    return out


def first_contact_hours(session: Session, people: Collection[str] | None, week: Week,
                        settings: BusinessSettings, memo: dict[str, Any] | None = None) -> Pairs:
    """Hours from assignment to first contact, over the first contacts made this week."""
    return [(a.rep, (a.contacted - a.at) / timedelta(hours=1))
            for a in _week_assignments(session, people, week, settings, memo)
            if a.contacted is not None and week.start <= a.contacted < week.as_of]


@dataclass
class PeiTerms:
    """What leads and opportunities add to PEI: (person, count) of interventions and missing fields,
    and one entry per action."""

    penalties: Pairs
    actions: list[str | None]


def lead_pei(session: Session, people: Collection[str] | None, week: Week, settings: BusinessSettings,
             memo: dict[str, Any] | None = None) -> PeiTerms:
    """Interventions: leads moved from one rep to another (改派, 交接), each first-contact escalation that
    fired (the reminder with the manager's card at first_contact_hours, the take-back to the pool).
    Actions: lead assignments made and first contacts made this week."""
    start, end = week.start, week.as_of
    limit = timedelta(hours=settings.leads.first_contact_hours)
    penalties: Pairs = [(before, 1.0) for before, _ in rq.lead_moves(session, people, start, end)]
    penalties += [(before, 1.0) for before, _ in rq.leads_reclaimed(session, people, start, end)]
    actions: list[str | None] = []
    for a in _week_assignments(session, people, week, settings, memo):
        deadline = a.at + limit
        late = a.contacted is None or a.contacted > deadline
        held = a.ended is None or a.ended >= deadline
        if late and held and start <= deadline < end:
            penalties.append((a.rep, 1.0))  # the reminder to the rep and the card to their manager
        actions += [a.rep] * (start <= a.at < end) + [a.rep] * (a.contacted is not None and start <= a.contacted < end)
    return PeiTerms(penalties, actions)

