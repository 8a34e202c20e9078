"""What the board's 商机漏斗 and 线索 pages show, scoped to the people the viewer may see.

商机漏斗: per open stage (in `[[stages]]` order) the open opportunities' count and amount, the longest
dwell, and how many are yellow (past the stage's max_days) or red (past twice) as of now; the list of
a stage's opportunities stuck longest first; one opportunity with its evidence and timeline.
线索: this week's first-contact figures (the metrics of metrics.py), the leads waiting for a first
contact (overdue first), and the fairness table of handlers/leads_report.py over the viewer's reps.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any, Literal

from sqlalchemy.orm import Session

from handlers.context import Context
from handlers.health import metrics as m
from handlers.health.deal_facts import dwell_limits
from handlers.health.weeks import week_of
from handlers.leads_report import FairnessReport, fairness
from handlers.settings import BusinessSettings
from storage import directory
from storage import opportunities as opp_repo
from storage import report_deals as rq
from storage.models import Customer, Lead, Opportunity

Flag = Literal["yellow", "red"] | None
People = Collection[str] | None
FAIRNESS_DAYS = 7
LEAD_METRICS = ("lead_first_contact_share", "lead_first_contact_median_hours", "penetration_first_contact")


@dataclass
class StageTile:
    name: str
    max_days: int
    count: int = 0
    amount: Decimal = Decimal(0)
    yellow: int = 0  # past max_days (red included)
    red: int = 0  # past twice max_days
    longest_days: float | None = None


def dwell_flag(entered: datetime, max_days: int, now: datetime) -> Flag:
    """Yellow past the stage's max_days, red past twice (no limit: no flag) — as the dwell tick flags it."""
    if max_days <= 0:
        return None
    waited = now - entered
    return "red" if waited > timedelta(days=2 * max_days) else "yellow" if waited > timedelta(days=max_days) else None


def funnel(session: Session, settings: BusinessSettings, people: People, now: datetime) -> list[StageTile]:
    """One tile per open stage of `[[stages]]`, then any stage an opportunity holds that is no longer configured."""
    limits = {name: (now - timedelta(days=s.max_days), now - timedelta(days=2 * s.max_days))
              for name, s in dwell_limits(settings).items()}
    tiles = {s.name: StageTile(s.name, s.max_days) for s in settings.stages if not s.outcome}
    for stage, count, amount, yellow, red, oldest in rq.funnel(session, people, limits):
        tile = tiles.setdefault(stage, StageTile(stage, 0))
        tile.count, tile.amount = int(count), Decimal(amount or 0)
        tile.yellow, tile.red = int(yellow or 0), int(red or 0)
        tile.longest_days = (now - oldest) / timedelta(days=1) if oldest else None
    return list(tiles.values())


@dataclass(frozen=True)
class DealRow:
    opportunity: Opportunity
    owner: str
    customer: str
    dwell_days: float
    flag: Flag


def stage_list(session: Session, settings: BusinessSettings, people: People, stage: str | None, now: datetime,
               limit: int) -> list[DealRow]:
    """Open opportunities (of one stage, or all) in their stage longest first, with their dwell colour."""
    max_days = {s.name: s.max_days for s in settings.stages}
    return [DealRow(opp, owner or "—", customer, (now - opp.entered_stage_at) / timedelta(days=1),
                    dwell_flag(opp.entered_stage_at, max_days.get(opp.stage, 0), now))
            for opp, owner, customer in rq.open_in_stage(session, people, stage, limit)]


@dataclass(frozen=True)
class DealItem:
    opportunity: Opportunity
    owner: str
    customer: str
    flag: Flag
    max_days: int
    evidence: list[Any]
    history: list[Any]


def deal_item(session: Session, settings: BusinessSettings, opp: Opportunity, now: datetime) -> DealItem:
    """One opportunity: who owns it, its dwell colour, evidence and timeline (the audit log)."""
    max_days = next((s.max_days for s in settings.stages if s.name == opp.stage), 0)
    owner = directory.get_user(session, opp.owner_id) if opp.owner_id else None
    customer = session.get(Customer, opp.customer_id)
    flag = dwell_flag(opp.entered_stage_at, max_days, now) if opp.status == rq.OPEN else None
    return DealItem(opp, owner.name if owner else "—", customer.name if customer else "—", flag, max_days,
                    opp_repo.evidence(session, opp), opp_repo.history(session, opp))


# --- 线索 ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WaitingLead:
    lead: Lead
    owner: str
    waited: timedelta
    overdue: bool


@dataclass
class LeadsView:
    figures: list[m.Figure]
    waiting: list[WaitingLead]
    waiting_total: int
    overdue_total: int
    fairness: FairnessReport
    rep_rows: list[dict[str, Any]] = field(default_factory=list)


def leads_view(ctx: Context, people: People, limit: int) -> LeadsView:
    """The 线索 page: this week's first-contact figures, the leads waiting, fairness over the last 7 days."""
    session, settings, now = ctx.session, ctx.settings, ctx.now
    week = week_of(now, now)
    samples = m.compute_all(m.Query(session, people, week, settings), LEAD_METRICS)
    figures = [f for f in m.figures(samples, people, settings) if f.metric.key in LEAD_METRICS]
    hours = timedelta(hours=settings.leads.first_contact_hours)
    waiting = [WaitingLead(lead, owner, now - (lead.assigned_at or now), now - (lead.assigned_at or now) > hours)
               for lead, owner in rq.leads_waiting(session, people, limit)]
    report = fairness(ctx, now - timedelta(days=FAIRNESS_DAYS), now, people)
    rows = [{"rep": r, "assigned": r.total, "contacted": len(r.contact_hours), "won": r.won,
             "median_hours": median(r.contact_hours) if r.contact_hours else None} for r in report.reps]
    return LeadsView(figures, waiting, rq.count_leads_waiting(session, people),
                     rq.count_leads_waiting(session, people, now - hours), report, rows)
