"""The process-health metrics: one function each, all computed from what salesbot stores.

A metric function reads one query over everyone in scope and returns `Samples`: per person, the values
the metric aggregates (durations for a median, 0/1 for a share, counts for a count, numerator and
denominator for a ratio). `value_for` aggregates the samples of any group of people, so one query
gives the rep, the team and the company figure. Lead and opportunity figures are rebuilt from the audit
log in lead_facts.py and deal_facts.py. A metric with no function would show as 暂无数据, never as a
number. README defines each.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from handlers.health import deal_facts, lead_facts
from handlers.health.weeks import Week, add_working_days
from handlers.settings import BusinessSettings
from storage import report as q
from storage.states import ApprovalStatus, TodoStatus

Kind = Literal["median", "share", "count", "ratio"]
Colour = Literal["green", "yellow", "red"]
DOTS: dict[Colour | None, str] = {"green": "🟢", "yellow": "🟡", "red": "🔴", None: "⚪"}
HIGH_SEVERITIES = ("high", "critical")
WORKING_DAYS = 5


@dataclass
class Samples:
    """Per person (directory id; None for rows nobody owns), what the metric aggregates."""

    kind: Kind
    values: dict[str | None, list[float]] = field(default_factory=lambda: defaultdict(list))
    denominators: dict[str | None, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, person: str | None, value: float) -> None:
        self.values[person].append(value)

    def value_for(self, people: Collection[str] | None) -> tuple[float | None, int]:
        """(value, how many samples) over `people` (None: everyone); value None when nothing counted."""
        keys = list(self.values) if people is None else [p for p in people if p in self.values]
        flat = [v for k in keys for v in self.values[k]]
        if self.kind == "count":
            return float(sum(flat)), len(flat)
        if self.kind == "ratio":
            dkeys = list(self.denominators) if people is None else [p for p in people if p in self.denominators]
            den = sum(self.denominators[k] for k in dkeys)
            return (sum(flat) / den if den else None), int(den)
        if not flat:
            return None, 0
        return (statistics.median(flat) if self.kind == "median" else sum(flat) / len(flat)), len(flat)


@dataclass(frozen=True)
class Query:
    """What a metric function reads: the session, who is in scope (None: the company), the week, settings."""

    session: Session
    people: Collection[str] | None
    week: Week
    settings: BusinessSettings
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def rows(self, read: Callable[..., Any], *args: Any) -> Any:
        """`read(session, people, *args)` once per query: the metrics that read the same rows (three read
        the approvals decided this week) share one round trip."""
        key = (read, args)
        if key not in self.memo:
            self.memo[key] = read(self.session, self.people, *args)
        return self.memo[key]


MetricFn = Callable[[Query], Samples]


@dataclass(frozen=True)
class Metric:
    key: str
    group: str
    name: str
    unit: str  # share, hours, days, count, ratio
    better: Literal["higher", "lower"]
    compute: MetricFn | None  # None: salesbot does not record this yet (暂无数据)


def _hours(delta: timedelta) -> float:
    return delta / timedelta(hours=1)


def _pairs(kind: Kind, pairs: lead_facts.Pairs) -> Samples:
    out = Samples(kind)
    for person, value in pairs:
        out.add(person, value)
    return out


# --- 线索 / 商机 (lead_facts.py, deal_facts.py) -------------------------------------------------------

def lead_first_contact_share(query: Query) -> Samples:
    """Share of lead assignments decided this week whose first contact came within first_contact_hours."""
    return _pairs("share", lead_facts.first_contact_within(query.session, query.people, query.week, query.settings,
                                                           memo=query.memo))


def lead_first_contact_median_hours(query: Query) -> Samples:
    """Hours from assignment to first contact, first contacts made this week."""
    return _pairs("median", lead_facts.first_contact_hours(query.session, query.people, query.week, query.settings,
                                                           memo=query.memo))


def penetration_first_contact(query: Query) -> Samples:
    """动作穿透率, first contact: as the share, but a lead moved away uncontacted before its limit counts as missed."""
    return _pairs("share", lead_facts.first_contact_within(query.session, query.people, query.week, query.settings,
                                                           moved_counts=True, memo=query.memo))


def proposal_cycle_median_days(query: Query) -> Samples:
    """Days from 需求确认 to 方案提交 (the [report] proposal_stages), entries into 方案提交 this week."""
    return _pairs("median", deal_facts.proposal_cycle_days(query.session, query.people, query.week, query.settings))


def penetration_stage_dwell(query: Query) -> Samples:
    """动作穿透率, stage dwell: share of stays decided this week that left their stage within its max_days."""
    return _pairs("share", deal_facts.stage_dwell_within(query.session, query.people, query.week, query.settings))


# --- 审批 ------------------------------------------------------------------------------------------

def approval_median_hours(query: Query) -> Samples:
    """Hours from submitting a version to its final decision (approved or returned), decided this week."""
    out = Samples("median")
    for person, _, created, decided, _ in query.rows(q.approvals_decided, query.week.start, query.week.as_of):
        out.add(person, _hours(decided - created))
    return out


def approval_within_5wd_share(query: Query) -> Samples:
    """Share of versions decided this week within 5 working days (Mon–Fri) of submission."""
    out = Samples("share")
    for person, _, created, decided, _ in query.rows(q.approvals_decided, query.week.start, query.week.as_of):
        out.add(person, float(decided <= add_working_days(created, WORKING_DAYS)))
    return out


def approval_step_median_hours(query: Query) -> Samples:
    """Hours each step was held by its approver (started to decided), steps decided this week."""
    out = Samples("median")
    for row in query.rows(q.steps_decided, query.week.start, query.week.as_of):
        if row.started_at is not None:
            out.add(row.submitter_id, _hours(row.decided_at - row.started_at))
    return out


def approval_return_share(query: Query) -> Samples:
    """Share of versions decided this week that were returned (驳回) rather than approved."""
    out = Samples("share")
    for person, _, _, _, status in query.rows(q.approvals_decided, query.week.start, query.week.as_of):
        out.add(person, float(status == ApprovalStatus.REJECTED))
    return out


def penetration_approval(query: Query) -> Samples:
    """动作穿透率, approval: share of steps decided this week within their SLA with no escalation."""
    out = Samples("share")
    for row in query.rows(q.steps_decided, query.week.start, query.week.as_of):
        on_time = (row.started_at is not None and row.escalation_level == 0
                   and row.decided_at - row.started_at <= timedelta(hours=row.sla_hours))
        out.add(row.submitter_id, float(on_time))
    return out


# --- 待办 ------------------------------------------------------------------------------------------

def todo_overdue_open(query: Query) -> Samples:
    """Owned to-dos still open at the end of the week (or now) and past their due time."""
    out = Samples("count")
    for person, count in q.overdue_by_owner(query.session, query.people, query.week.as_of):
        out.add(person, float(count))
    return out


def todo_closed_by_due_share(query: Query) -> Samples:
    """Share of owned to-dos due this week (up to now) that were closed by their due time."""
    out = Samples("share")
    for person, _, closed_by_due in q.todos_due(query.session, query.people, query.week.start, query.week.as_of):
        out.add(person, float(closed_by_due))
    return out


def handoff_unclaimed(query: Query) -> Samples:
    """Hand-offs (to-dos offered to a role) still unclaimed and open, past [sla] unclaimed_hours."""
    out = Samples("count")
    limit = timedelta(hours=query.settings.sla.unclaimed_hours)
    for person, _, _, claimed, status in q.handoffs(query.session, query.people, None, query.week.as_of - limit):
        if status == TodoStatus.OPEN and (claimed is None or claimed > query.week.as_of):
            out.add(person, 1)
    return out


def penetration_handoff_claim(query: Query) -> Samples:
    """动作穿透率, hand-off claim: of the hand-offs whose claim deadline (created + unclaimed_hours)
    fell this week, the share claimed by then."""
    out = Samples("share")
    limit = timedelta(hours=query.settings.sla.unclaimed_hours)
    for person, _, created, claimed, _ in q.handoffs(query.session, query.people, query.week.start - limit,
                                                     query.week.as_of - limit):
        out.add(person, float(claimed is not None and claimed <= created + limit))
    return out


# --- 风险 ------------------------------------------------------------------------------------------

def risk_open_high(query: Query) -> Samples:
    """Open risk events of severity high (or critical)."""
    out = Samples("count")
    for person, count in q.open_risks_by_owner(query.session, query.people, query.week.as_of, HIGH_SEVERITIES):
        out.values[person] += [1.0] * count
    return out


def risk_outcome_share(query: Query) -> Samples:
    """Share of the risks raised this week that are closed or have an outcome recorded."""
    out = Samples("share")
    for person, _, settled in q.risks_raised(query.session, query.people, query.week.start, query.week.as_of):
        out.add(person, float(settled))
    return out


# --- 客户 ------------------------------------------------------------------------------------------

def silent_customers(query: Query) -> Samples:
    """客户沉默预警数: active customers with no activity for [sla] silent_remind_days (as of now)."""
    out = Samples("count")
    before = query.week.as_of - timedelta(days=query.settings.sla.silent_remind_days)
    for person, count in q.silent_customers(query.session, query.people, before):
        out.values[person].append(float(count))
    return out


def released_to_pool(query: Query) -> Samples:
    """Customers salesbot released to the public pool this week (silent past silent_release_days)."""
    out = Samples("count")
    for person, _, _ in q.released_to_pool(query.session, query.people, query.week.start, query.week.as_of):
        out.add(person, 1)
    return out


# --- PEI -------------------------------------------------------------------------------------------

def pei(query: Query) -> Samples:
    """PEI = (manual interventions + missing required fields) ÷ actions, this week (README defines each)."""
    out = Samples("ratio")
    s, people, start, end = query.session, query.people, query.week.start, query.week.as_of
    for person, _, level in [*q.steps_escalated(s, people, start, end), *q.todos_escalated(s, people, start, end)]:
        out.add(person, float(level))  # every escalation level that fired is one intervention
    for person, _ in [*q.reassignments(s, people, start, end), *q.approvals_withdrawn(s, people, start, end)]:
        out.add(person, 1)
    submitted = q.approvals_submitted(s, people, start, end)
    created = q.todos_created(s, people, start, end)
    for row in submitted:
        if not (row.note or "").strip():
            out.add(row.submitter_id, 1)  # an approval asked for with no note: what was asked is missing
    for row in created:
        if row.no_due:
            out.add(row.owner_id, 1)
    actions: Iterable[str | None] = [
        *(r.submitter_id for r in submitted), *(r.owner_id for r in created),
        *(r.submitter_id for r in query.rows(q.steps_decided, start, end)),
        *(r.owner_id for r in q.todos_closed(s, people, start, end)),
    ]
    for terms in (lead_facts.lead_pei(s, people, query.week, query.settings, query.memo),
                  deal_facts.deal_pei(s, people, query.week, query.settings)):
        for person, count in terms.penalties:
            out.add(person, count)
        actions = [*actions, *terms.actions]
    for person in actions:
        out.denominators[person] += 1
    return out


METRICS: tuple[Metric, ...] = (
    Metric("lead_first_contact_share", "线索", "线索首次联系及时率", "share", "higher", lead_first_contact_share),
    Metric("lead_first_contact_median_hours", "线索", "线索首次联系中位时长", "hours", "lower", lead_first_contact_median_hours),
    Metric("proposal_cycle_median_days", "商机", "方案定制周期（中位）", "days", "lower", proposal_cycle_median_days),
    Metric("approval_median_hours", "审批", "审批周期（中位）", "hours", "lower", approval_median_hours),
    Metric("approval_within_5wd_share", "审批", "5 个工作日内审批完成", "share", "higher", approval_within_5wd_share),
    Metric("approval_step_median_hours", "审批", "单步停留（中位）", "hours", "lower", approval_step_median_hours),
    Metric("approval_return_share", "审批", "退回率", "share", "lower", approval_return_share),
    Metric("todo_overdue_open", "待办", "逾期未完成待办", "count", "lower", todo_overdue_open),
    Metric("todo_closed_by_due_share", "待办", "按时完成率", "share", "higher", todo_closed_by_due_share),
    Metric("handoff_unclaimed", "待办", "超时未认领的转交", "count", "lower", handoff_unclaimed),
    Metric("risk_open_high", "风险", "未关闭的高风险", "count", "lower", risk_open_high),
    Metric("risk_outcome_share", "风险", "本周风险已有结果", "share", "higher", risk_outcome_share),
    Metric("silent_customers", "客户", "客户沉默预警数", "count", "lower", silent_customers),
    Metric("released_to_pool", "客户", "本周回收公海", "count", "lower", released_to_pool),
    Metric("penetration_first_contact", "动作穿透率", "首次联系", "share", "higher", penetration_first_contact),
    Metric("penetration_approval", "动作穿透率", "审批", "share", "higher", penetration_approval),
    Metric("penetration_stage_dwell", "动作穿透率", "阶段停留", "share", "higher", penetration_stage_dwell),
    Metric("penetration_handoff_claim", "动作穿透率", "转交认领", "share", "higher", penetration_handoff_claim),
    Metric("pei", "PEI", "流程熵 PEI", "ratio", "lower", pei),
)
BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Figure:
    """One metric's value for one group, with its colour."""

    metric: Metric
    value: float | None
    samples: int
    colour: Colour | None

    @property
    def dot(self) -> str:
        return DOTS[self.colour]

    @property
    def text(self) -> str:
        return format_value(self.metric, self.value)


def colour(metric: Metric, value: float | None, settings: BusinessSettings) -> Colour | None:
    """🟢/🟡/🔴 by the [report] thresholds; None (no colour) when there is no value."""
    limits = settings.report.threshold(metric.key)
    if value is None or limits is None:
        return None
    green, yellow = limits
    if metric.better == "higher":
        return "green" if value >= green else "yellow" if value >= yellow else "red"
    return "green" if value <= green else "yellow" if value <= yellow else "red"


def format_value(metric: Metric, value: float | None) -> str:
    if metric.compute is None:
        return "暂无数据"
    if value is None:
        return "—"
    if metric.unit == "share":
        return f"{value * 100:.0f}%"
    if metric.unit == "hours":
        return f"{value:.1f} 小时"
    if metric.unit == "days":
        return f"{value:.1f} 天"
    if metric.unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.0f}"


def compute_all(query: Query, keys: Collection[str] | None = None) -> dict[str, Samples | None]:
    """Every metric's samples (or only `keys`') over the query's scope (None for a metric with no data yet)."""
    return {m.key: (m.compute(query) if m.compute else None) for m in METRICS if keys is None or m.key in keys}


def figures(samples: dict[str, Samples | None], people: Collection[str] | None,
            settings: BusinessSettings) -> list[Figure]:
    """Every metric's figure for one group of people (None: everyone in the samples)."""
    out: list[Figure] = []
    for metric in METRICS:
        s = samples.get(metric.key)
        value, n = s.value_for(people) if s is not None else (None, 0)
        out.append(Figure(metric, value, n, colour(metric, value, settings)))
    return out

