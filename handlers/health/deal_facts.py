"""Opportunity stage dwells as the process-health metrics read them, rebuilt from the audit log.

Every stage move is an audit row (`stage` before → after, at); opening an opportunity enters the first
configured stage at its created_at. A dwell is one stay in one stage, from entering it to the next
move. Metric functions here return (person, value) pairs for the opportunity's owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers.health.lead_facts import Pairs, PeiTerms
from handlers.health.weeks import Week
from handlers.settings import BusinessSettings, StageConfig
from storage import report_deals as rq

OVERRIDE_NOTE = "manual override:"  # how core.move_stage notes a stage entered without its evidence


@dataclass
class Dwell:
    opportunity_id: int
    owner: str | None
    stage: str
    entered: datetime
    left: datetime | None = None


def proposal_stages(settings: BusinessSettings) -> tuple[str, str]:
    """The two stages 方案定制周期 runs between: [report] proposal_stages, else the first two stages."""
    chosen = settings.report.proposal_stages
    if len(chosen) == 2:
        return chosen[0], chosen[1]
    names = [s.name for s in settings.stages if not s.outcome]
    return names[0], names[1] if len(names) > 1 else names[0]


def dwell_limits(settings: BusinessSettings) -> dict[str, StageConfig]:
    """The stages with a dwell limit (max_days > 0; won and lost have none)."""
    return {s.name: s for s in settings.stages if s.max_days > 0 and not s.outcome}


def dwells(session: Session, people: Collection[str] | None, since: datetime, until: datetime,
           first_stage: str) -> list[Dwell]:
    """The stays in a stage entered in [since, until) by opportunities in scope, as known at `until`."""
    current: dict[int, Dwell] = {}
    out: list[Dwell] = []
    for owner, opp_id, created in rq.opportunities_opened(session, people, since, until):
        current[opp_id] = Dwell(opp_id, owner, first_stage, created)
        out.append(current[opp_id])
    for opp_id, owner, _, _, at, before, after, _ in rq.stage_rows(session, people, since, until):
        stay = current.get(opp_id)
        if stay is not None and stay.left is None and stay.stage == before:
            stay.left = at
        current[opp_id] = Dwell(opp_id, owner, after, at)
        out.append(current[opp_id])
    return out


def stage_dwell_within(session: Session, people: Collection[str] | None, week: Week,
                       settings: BusinessSettings) -> Pairs:
    """动作穿透率, stage dwell: 1/0 per stay decided this week — left within its stage's max_days (decided
    when it left), or still there when max_days passed (decided then: the opportunity turned yellow)."""
    limits = dwell_limits(settings)
    if not limits:
        return []
    back = timedelta(days=max(s.max_days for s in limits.values()))
    out: Pairs = []
    for stay in dwells(session, people, week.start - back, week.as_of, settings.stages[0].name):
        stage = limits.get(stay.stage)
        if stage is None:
            continue
        deadline = stay.entered + timedelta(days=stage.max_days)
        in_time = stay.left is not None and stay.left <= deadline
        decided = stay.left if in_time and stay.left is not None else deadline
        if week.start <= decided < week.as_of:
            out.append((stay.owner, float(in_time)))
    return out


def proposal_cycle_days(session: Session, people: Collection[str] | None, week: Week,
                        settings: BusinessSettings) -> Pairs:
    """方案定制周期: days from entering the first proposal stage (需求确认) to entering the second (方案提交),
    for each entry into the second this week, from the latest entry into the first before it."""
    source, target = proposal_stages(settings)
    first = settings.stages[0].name
    entered: dict[int, list[datetime]] = defaultdict(list)
    out: Pairs = []
    for opp_id, owner, created, _, at, _, after, _ in rq.stage_rows(session, people, week.start, week.as_of,
                                                                   entering=target):
        if source == first and not entered[opp_id]:
            entered[opp_id].append(created)
        if after == source:
            entered[opp_id].append(at)
        elif after == target and week.start <= at < week.as_of:
            before = [t for t in entered[opp_id] if t <= at]
            if before:
                out.append((owner, (at - max(before)) / timedelta(days=1)))
    return out


def deal_pei(session: Session, people: Collection[str] | None, week: Week, settings: BusinessSettings) -> PeiTerms:
    """Interventions: stages entered by a manager's override (阶段 … 强制), stage-dwell flags raised (yellow
    to the owner, red to the manager). Missing required fields: each evidence kind an overridden stage
    asks for that was not attached. Actions: stage moves and opportunities opened this week."""
    start, end = week.start, week.as_of
    moves = rq.stage_rows(session, people, start, end)
    overrides = [r for r in moves if (r[7] or "").startswith(OVERRIDE_NOTE)]
    have: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for opp_id, kind, added in rq.evidence_added(session, {r[0] for r in overrides}, end):
        have[opp_id].append((kind, added))
    stages = {s.name: s for s in settings.stages}
    penalties: Pairs = [(owner, 1.0) for owner, _, _ in rq.flags_raised(session, people, start, end)]
    for opp_id, owner, _, _, at, _, after, _ in overrides:
        kinds = stages[after].evidence if after in stages else ()
        attached = {k for k, added in have[opp_id] if added <= at}
        penalties.append((owner, 1.0 + sum(k not in attached for k in kinds)))
    actions: list[str | None] = [r[1] for r in moves]
    actions += [owner for owner, _, _ in rq.opportunities_opened(session, people, start, end)]
    return PeiTerms(penalties, actions)
