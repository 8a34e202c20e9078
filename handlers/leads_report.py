"""The fairness report: leads received per rep and team by quality band, first-contact times,
conversion, and a flag where a team's share of good leads strays from its share of capacity.

`salesbot leads report [--week]` prints it; `weekly_fairness_card` sends it to managers once a week
(Monday from 09:00 China time, once per week through a cursor row).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Protocol

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from handlers.timefmt import display_zone, local_time
from storage import directory
from storage import leads as repo
from storage.models import Cursor

GOOD_BUDGET = Decimal(100_000)
URGENT = ("高", "紧急", "急", "high", "urgent")
BANDS = ("A", "B", "C")
ASSIGNED = ("assigned", "contacted", "invalid", "followup")


class Graded(Protocol):
    """What the band reads of a lead (a Lead, or a row with these columns)."""

    @property
    def budget(self) -> Decimal | None: ...

    @property
    def urgency(self) -> str: ...


def band(lead: Graded) -> str:
    """A: budget ≥ 100,000 or urgent; B: some budget; C: neither."""
    if (lead.budget is not None and lead.budget >= GOOD_BUDGET) or lead.urgency.strip().lower() in URGENT:
        return "A"
    return "B" if lead.budget else "C"


@dataclass
class RepRow:
    user_id: str
    name: str
    team: str
    bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BANDS, 0))
    contact_hours: list[float] = field(default_factory=list)
    won: int = 0

    @property
    def total(self) -> int:
        return sum(self.bands.values())


@dataclass
class FairnessReport:
    start: datetime
    end: datetime
    reps: list[RepRow]
    pool: int
    flags: list[str]

    def lines(self) -> list[str]:
        out = [f"统计区间：{local_time(self.start, '%Y-%m-%d %H:%M')} ~ {local_time(self.end, '%Y-%m-%d %H:%M')}（北京时间）",
               "销售｜团队｜线索数（A/B/C）｜首次联系中位用时｜成交"]
        for r in self.reps:
            hours = f"{median(r.contact_hours):.1f} 小时" if r.contact_hours else "—"
            out.append(f"{r.name}｜{r.team}｜{r.total}（{r.bands['A']}/{r.bands['B']}/{r.bands['C']}）｜{hours}｜{r.won}")
        out.append(f"进入公海：{self.pool} 条")
        out += self.flags or ["各团队优质线索（A 档）占比与产能占比一致，无偏差预警。"]
        return out


def fairness(ctx: Context, start: datetime, end: datetime, owners: Collection[str] | None = None) -> FairnessReport:
    """Leads created in [start, end) per rep; with `owners` (the board's scope) only their leads, and no
    team flags (they compare every team's share). One query for the leads (with their customer's stage)
    and one for the directory, read as plain rows: the board's 线索 page runs this on every view."""
    rows: dict[str, RepRow] = {}
    pool = 0
    users = directory.names_and_managers(ctx.session)  # one query, not two per rep
    for lead in repo.leads_between(ctx.session, start, end, owners):
        if lead.status == "pool" or not lead.owner_id:
            pool += lead.status == "pool"
            continue
        row = rows.get(lead.owner_id) or rows.setdefault(lead.owner_id, _row(users, lead.owner_id))
        row.bands[band(lead)] += 1
        if lead.contacted_at and lead.assigned_at:
            row.contact_hours.append((lead.contacted_at - lead.assigned_at).total_seconds() / 3600)
        if lead.customer_stage == "won":
            row.won += 1
    reps = sorted(rows.values(), key=lambda r: (r.team, r.user_id))
    return FairnessReport(start, end, reps, pool, _flags(ctx, reps, users) if owners is None else [])


def _row(users: Mapping[str, tuple[str, str | None]], user_id: str) -> RepRow:
    name, manager_id = users.get(user_id, (user_id, None))
    boss = users.get(manager_id) if manager_id else None
    return RepRow(user_id, name, boss[0] if boss else "（无主管）")


def _flags(ctx: Context, reps: list[RepRow], users: Mapping[str, tuple[str, str | None]]) -> list[str]:
    """Teams whose share of A leads is off their share of capacity by more than fairness_threshold."""
    cfg = ctx.settings.leads
    good: dict[str, int] = {}
    capacity: dict[str, int] = {}
    for r in reps:
        good[r.team] = good.get(r.team, 0) + r.bands["A"]
    for uid in directory.active_ids_with_roles(ctx.session, cfg.roles):  # every team that could have had leads
        if not cfg.rep(uid).on_leave:
            team = _row(users, uid).team
            good.setdefault(team, 0)
            capacity[team] = capacity.get(team, 0) + (cfg.rep(uid).capacity or cfg.capacity)
    total_good, total_cap = sum(good.values()), sum(capacity.values())
    if not total_good or len(good) < 2:
        return []
    flags = []
    for team in sorted(good):
        got, due = good[team] / total_good, capacity.get(team, 0) / total_cap
        if abs(got - due) > cfg.fairness_threshold:
            flags.append(f"⚠ {team} 团队分到 {got:.0%} 的优质线索，产能占比 {due:.0%}，偏差超过 {cfg.fairness_threshold:.0%}")
    return flags


def last_week(now: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 to Monday 00:00 (China time) of the week before `now`'s week."""
    local = now.astimezone(display_zone())
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday - timedelta(days=7), monday


def weekly_fairness_card(ctx: Context) -> list[str]:
    """Monday from 09:00 China time: last week's report to every manager and director, once a week."""
    local = ctx.now.astimezone(display_zone())
    if local.weekday() != 0 or local.hour < 9:
        return []
    start, end = last_week(ctx.now)
    week = int(start.strftime("%G%V"))
    cursor = ctx.session.get(Cursor, "leads_fairness_week")
    if cursor is not None and cursor.position >= week:
        return []
    report = fairness(ctx, start, end)
    if not report.reps and not report.pool:
        return []  # no leads that week: nothing to report (asked again next tick, cheaply)
    if cursor is None:
        cursor = Cursor(name="leads_fairness_week", position=0, updated_at=ctx.now)
        ctx.session.add(cursor)
    cursor.position, cursor.updated_at = week, ctx.now
    managers = [u for role in ("manager", "director") for u in directory.with_role(ctx.session, role)]
    outbox.post(ctx, [Card(title=f"线索分配公平性周报（{local_time(start, '%m-%d')} 起）", lines=tuple(report.lines()),
                           recipients=tuple(u.id for u in managers), dedupe_key=f"fairness:{week}")])
    return [f"fairness report for week {week} sent to {len(managers)} managers"]
