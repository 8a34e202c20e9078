"""Risk follow-up checks run by every tick (listed in scheduler/jobs.py CHECKS): close reminders, the daily digest, the weekly rules report.

- risk_close_reminders: an open risk older than each `[scan] close_remind_hours` level reminds its
  owner once per level to close it with 结案 (the level is claimed by a conditional UPDATE).
- risk_digest: events of `notify_mode = "daily"` rules raised before today's `digest_hour` go to each
  owner in one card; they leave the digest as they are sent, so a second tick sends nothing.
- rules_report_weekly: on `report_weekday` from `report_hour` (China time), admins get the rules report
  of the last seven days once (the card's dedupe key names the week), if anyone voted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update

from handlers import outbox
from handlers.context import Context
from handlers.model import Button, Card
from handlers.orgchart import fallback_recipients, owner_of
from handlers.risk import SEVERITY_NAMES
from handlers.risk_feedback import rules_report
from handlers.scanning import quote_words, spans_of
from handlers.timefmt import display_zone, local_time
from storage import directory, risks
from storage.models import Customer, RiskEvent
from storage.states import RiskStatus

LEVEL_NAMES = {1: "第一次", 2: "第二次", 3: "第三次", 4: "第四次"}


def remind_to_close(ctx: Context) -> list[str]:
    levels: Sequence[int] = ctx.settings.scan.close_remind_hours
    done: list[str] = []
    if not levels:
        return done
    for event in risks.open_older_than(ctx.session, ctx.now - timedelta(hours=levels[0]), len(levels)):
        age = ctx.now - event.created_at
        level = max(i + 1 for i, hours in enumerate(levels) if age >= timedelta(hours=hours))
        if level <= event.remind_level:
            continue
        claimed = ctx.session.execute(
            update(RiskEvent).where(RiskEvent.id == event.id, RiskEvent.remind_level == event.remind_level,
                                    RiskEvent.status == RiskStatus.OPEN)
            .values(remind_level=level).execution_options(synchronize_session=False)
        )
        if not getattr(claimed, "rowcount", 0):
            continue
        customer = ctx.session.get(Customer, event.customer_id) if event.customer_id else None
        owner = owner_of(ctx, customer) if customer is not None else None
        recipients = (owner.id,) if owner else fallback_recipients(ctx)
        hours = int(age.total_seconds() // 3600)
        card = Card(
            title=f"请结案：{event.code} {event.label}",
            lines=(f"客户：{customer.name if customer else '未关联'}　风险 {event.code} 已开启 {hours} 小时（{LEVEL_NAMES.get(level, f'第{level}次')}提醒）",
                   f"客户原话：「{quote_words(event.text, spans_of(ctx.settings, event.rule, event.keyword, event.text), 60)}」",
                   f"处理完后请回复「结案 {event.code} <挽回|丢单|无影响> [说明]」，结果会帮助以后的同类案例。"),
            recipients=recipients, key=event.code, dedupe_key=f"risk-close:{event.id}:{level}",
            buttons=(Button("查看应对建议", f"应对 {event.code}"),),
        )
        outbox.post(ctx, [card])
        done.append(f"{event.code}: close reminder level {level} to {', '.join(recipients) or 'nobody'}")
    return done


def digest_cutoff(now: datetime, hour: int) -> datetime:
    """The latest digest moment at or before `now`: today's `hour` o'clock China time, else yesterday's."""
    local = now.astimezone(display_zone())
    moment = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return moment


def send_digests(ctx: Context) -> list[str]:
    cutoff = digest_cutoff(ctx.now, ctx.settings.scan.digest_hour)
    by_owner: dict[tuple[str, ...], list[tuple[RiskEvent, Customer | None]]] = {}
    for event in risks.pending_digest(ctx.session):
        if event.created_at > cutoff:
            continue  # raised after today's digest: tomorrow's
        customer = ctx.session.get(Customer, event.customer_id) if event.customer_id else None
        owner = owner_of(ctx, customer) if customer is not None else None
        key = (owner.id,) if owner else fallback_recipients(ctx)
        by_owner.setdefault(key, []).append((event, customer))
        event.digest_pending = False
    done = []
    for recipients, items in by_owner.items():
        lines = [f"今天有 {len(items)} 条低优先级风险（这些规则设为每日汇总）："]
        for event, customer in items:
            severity = SEVERITY_NAMES.get(event.severity, event.severity)
            words = quote_words(event.text, spans_of(ctx.settings, event.rule, event.keyword, event.text), 40)
            lines.append(f"· {event.code} {customer.name if customer else '未关联'}：{event.label}（{severity}）"
                         f"「{words}」 {local_time(event.created_at)}")
        lines.append("回复「应对 编号」看应对建议，「误报 编号」「有用 编号」反馈，「结案 编号 结果」结案。")
        outbox.post(ctx, [Card(title=f"风险日报：{len(items)} 条", lines=tuple(lines), recipients=recipients,
                               dedupe_key=f"risk-digest:{cutoff:%Y-%m-%d}:{items[0][0].id}")])
        done.append(f"digest of {len(items)} to {', '.join(recipients) or 'nobody'}")
    return done


def weekly_rules_report(ctx: Context) -> list[str]:
    scan = ctx.settings.scan
    local = ctx.now.astimezone(display_zone())
    if local.isoweekday() != scan.report_weekday or local.hour < scan.report_hour:
        return []
    admins = tuple(u.id for u in directory.with_role(ctx.session, "admin"))
    if not admins:
        return []
    year, week, _ = local.isocalendar()
    report = rules_report(ctx, ctx.now - timedelta(days=7))
    if not report.rules:
        return []  # nobody voted this week: nothing to tell
    posted = outbox.post(ctx, [Card(title="关键词规则周报（按卡片反馈）", lines=tuple(report.lines()),
                                    recipients=admins, dedupe_key=f"rules-report:{year}-W{week:02d}")])
    return [f"weekly rules report to {', '.join(admins)}"] if posted else []
