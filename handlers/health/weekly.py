"""The weekly process-health report: one card per manager with their team's figures coloured, the three
items stuck longest with board links, and the trend against last week. The tick sends it once per
manager per week at `[report] weekday/hour` (local time); `salesbot report` prints the same text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers import outbox
from handlers.context import Context
from handlers.health import metrics as m
from handlers.health.scope import managers, team_ids
from handlers.health.weeks import Week, week_of
from handlers.model import Card
from handlers.settings import BusinessSettings
from handlers.timefmt import display_zone, duration
from storage import report as q
from storage import reports as runs
from storage.models import User

STUCK_ITEMS = 3


@dataclass(frozen=True)
class Stuck:
    code: str
    what: str
    holder: str
    since: datetime
    path: str  # the item's page on the board, below /board


@dataclass(frozen=True)
class TeamReport:
    manager: User | None  # None: the whole company
    week: Week
    figures: list[m.Figure]
    last_week: list[m.Figure]
    stuck: list[Stuck]

    @property
    def title(self) -> str:
        who = f"{self.manager.name}团队" if self.manager else "全公司"
        return f"流程健康周报 {self.week.label}（{who}）"


def people_of(session: Session, manager: User | None) -> set[str] | None:
    """A manager's team including themself; None (everyone) for the company."""
    return None if manager is None else {manager.id, *team_ids(session, manager.id)}


Sampled = dict[str, m.Samples | None]


def build(session: Session, settings: BusinessSettings, manager: User | None, week: Week,
          company: tuple[Sampled, Sampled] | None = None) -> TeamReport:
    """The figures of `manager`'s team (the company if None) for `week` and the week before; `company`
    (this week's and last week's samples over everyone) saves the queries when building many teams."""
    people = people_of(session, manager)
    if company is None:
        company = (m.compute_all(m.Query(session, people, week, settings)),
                   m.compute_all(m.Query(session, people, week.previous(), settings)))
    now, last = (m.figures(samples, people, settings) for samples in company)
    return TeamReport(manager, week, now, last, stuck_items(session, people, week.as_of))


def company_samples(session: Session, settings: BusinessSettings, week: Week) -> tuple[Sampled, Sampled]:
    """Every metric over everyone, this week and last: one pass serves every manager's report."""
    return (m.compute_all(m.Query(session, None, week, settings)),
            m.compute_all(m.Query(session, None, week.previous(), settings)))


def stuck_items(session: Session, people: set[str] | None, at: datetime, limit: int = STUCK_ITEMS) -> list[Stuck]:
    """The approvals waiting longest and the to-dos overdue longest, worst first."""
    items: list[Stuck] = []
    for approval, step, submitter, customer in q.open_approvals(session, people, limit):
        since = (step.started_at if step else None) or approval.created_at
        holder = (step.approver_id or f"role:{step.approver_role}") if step else "—"
        items.append(Stuck(approval.code, f"审批 {approval.code} {customer}（{submitter}）", holder, since,
                           f"/approvals/{approval.code}"))
    for owner, todo, customer in q.todos_overdue(session, people, at, limit):
        if todo.due_at is not None:
            items.append(Stuck(todo.code, f"待办 {todo.code} {todo.title}" + (f" · {customer}" if customer else ""),
                               owner or "—", todo.due_at, f"/todos/{todo.code}"))
    return sorted(items, key=lambda s: s.since)[:limit]


def lines(report: TeamReport, names: dict[str, str], board_url: str) -> list[str]:
    """The report as text lines (the card's body, and `salesbot report`)."""
    out: list[str] = []
    group = ""
    missing: list[str] = []
    for now, last in zip(report.figures, report.last_week, strict=True):
        if now.metric.compute is None:
            missing.append(now.metric.name)
            continue
        if now.metric.group != group:
            group = now.metric.group
            out.append(f"【{group}】")
        out.append(f"{now.dot} {now.metric.name}：{now.text}（上周 {last.text}）")
    if missing:
        out.append(f"暂无数据：{'、'.join(missing)}（线索、商机功能上线后统计）")
    out.append("【卡得最久的事项】" if report.stuck else "【卡得最久的事项】无")
    for item in report.stuck:
        waited = duration(report.week.as_of - item.since)
        link = f" {board_url}/oauth/enter?next=/board{item.path}" if board_url else ""
        out.append(f"· {item.what}，在 {names.get(item.holder, item.holder)} 处 {waited}{link}")
    return out


def card(report: TeamReport, names: dict[str, str], board_url: str) -> Card:
    assert report.manager is not None
    return Card(title=report.title, lines=tuple(lines(report, names, board_url)),
                link=f"{board_url}/oauth/enter?next=/board/health" if board_url else None, recipients=(report.manager.id,),
                key=f"report:{report.week.label}", dedupe_key=f"report:{report.week.label}:{report.manager.id}")


def due_week(settings: BusinessSettings, now: datetime) -> Week | None:
    """This week, once its report time (`[report] weekday` at `hour`, local) has come; else None. Until the
    week ends a late tick still sends it (a worker that was down at 17:00 catches up)."""
    week = week_of(now, now)
    cfg = settings.report
    send_at = week.start.astimezone(display_zone()) + timedelta(days=cfg.weekday - 1, hours=cfg.hour)
    return week if now >= send_at else None


def send_weekly_reports(ctx: Context) -> list[str]:
    """The tick's check: once the report time of the week has come, each manager who has not had this
    week's report gets it (claimed per manager and week, so a second tick or worker sends nothing)."""
    week = due_week(ctx.settings, ctx.now)
    if week is None:
        return []
    names = runs.user_names(ctx.session)
    done: list[str] = []
    company: tuple[Sampled, Sampled] | None = None
    for manager in managers(ctx.session):
        if not runs.claim(ctx.session, manager.id, week.label, ctx.now):
            continue
        company = company or company_samples(ctx.session, ctx.settings, week)
        report = build(ctx.session, ctx.settings, manager, week, company)
        outbox.post(ctx, [card(report, names, ctx.settings.report.board_url)])
        done.append(f"{week.label}: report -> {manager.id}")
    return done
