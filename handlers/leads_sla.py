"""First contact of an assigned lead: remind at first_contact_hours, take back at reclaim_hours.

`check_first_contact(ctx)` is a scheduled check (run by every tick as of ctx.now). It reads only leads
whose next_check_at has come (index (status, next_check_at)). A message from the rep on the customer's
timeline (the conversation archive, a note) since the assignment counts as the first contact. Each
level is claimed by a conditional UPDATE naming the level it moves from, and its cards carry a
per-level dedupe key, so every level happens exactly once however often the tick runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.leads import brief, mark_contacted
from handlers.model import Button, Card
from handlers.orgchart import managers_of
from handlers.timefmt import local_time
from storage import audit, directory
from storage import leads as repo
from storage.models import Customer, Lead, Message, User

BATCH = 500


def check_first_contact(ctx: Context) -> list[str]:
    """Every assigned lead whose next check is due: contacted (archive), reminded, or taken back."""
    lines: list[str] = []
    for lead in repo.due_for_contact_check(ctx.session, ctx.now, BATCH):
        lines += _check(ctx, lead)
    return lines


def _check(ctx: Context, lead: Lead) -> list[str]:
    assert lead.assigned_at is not None and lead.owner_id is not None
    seen = rep_message_since(ctx, lead)
    if seen is not None:
        mark_contacted(ctx, lead, "archive", at=seen)
        return [f"{lead.code}: contacted (the rep's message at {seen.isoformat()})"]
    cfg = ctx.settings.leads
    remind_at = lead.assigned_at + timedelta(hours=cfg.first_contact_hours)
    reclaim_at = lead.assigned_at + timedelta(hours=cfg.reclaim_hours)
    stale_at = lead.assigned_at + timedelta(hours=cfg.stale_hours)
    lines: list[str] = []
    if ctx.now >= stale_at and repo.mark_stale(ctx.session, lead, ctx.now):
        lines.append(f"{lead.code}: stale")
    if ctx.now >= reclaim_at:
        return lines + _reclaim(ctx, lead)
    if lead.sla_level == 0 and ctx.now >= remind_at:
        nxt = min(t for t in (reclaim_at, stale_at) if t > ctx.now)
        if repo.set_sla_level(ctx.session, lead, 0, 1, nxt):
            outbox.post(ctx, _reminders(ctx, lead))
            lines.append(f"{lead.code}: {lead.owner_id} reminded, manager told")
        return lines
    upcoming = [t for t in (remind_at if lead.sla_level == 0 else None, reclaim_at, stale_at) if t and t > ctx.now]
    lead.next_check_at = min(upcoming)
    return lines


def rep_message_since(ctx: Context, lead: Lead) -> datetime | None:
    """When the rep first wrote on this lead's customer's timeline since it was assigned, if they did."""
    if lead.customer_id is None:
        return None
    stmt = (select(Message.sent_at)
            .where(Message.customer_id == lead.customer_id, Message.sender_user_id == lead.owner_id,
                   Message.from_customer.is_(False), Message.sent_at >= lead.assigned_at)
            .order_by(Message.sent_at).limit(1))
    return ctx.session.scalar(stmt)


def _reminders(ctx: Context, lead: Lead) -> list[Card]:
    hours = ctx.settings.leads.first_contact_hours
    owner = directory.get_user(ctx.session, lead.owner_id)
    name = owner.name if owner else lead.owner_id
    reclaim_at = (lead.assigned_at or ctx.now) + timedelta(hours=ctx.settings.leads.reclaim_hours)
    cards = [Card(title=f"线索 {lead.code} 已 {hours} 小时未联系：{lead.company}",
                  lines=(f"线索 {lead.code} 分给你已超过 {hours} 小时，还没有首次联系。", *brief(lead),
                         f"{local_time(reclaim_at)} 前仍未联系将收回公海。"),
                  buttons=(Button("已联系", f"已联系 {lead.code}"),), recipients=(lead.owner_id or "",),
                  key=lead.code, dedupe_key=f"lead:{lead.id}:{_stamp(lead)}:remind")]
    bosses = [m for m in managers_of(ctx, owner) if m.active][:1]
    if bosses:
        cards.append(Card(title=f"线索超时未联系：{name} · {lead.code} {lead.company}",
                          lines=(f"{name} 的线索 {lead.code} 已超过 {hours} 小时未首次联系。",
                                 f"可发送「改派 {lead.code} <人>」改派。"),
                          recipients=(bosses[0].id,), key=lead.code, dedupe_key=f"lead:{lead.id}:{_stamp(lead)}:boss"))
    return cards


def _reclaim(ctx: Context, lead: Lead) -> list[str]:
    owner = directory.get_user(ctx.session, lead.owner_id)
    if not repo.set_sla_level(ctx.session, lead, lead.sla_level, 2, None):
        return []
    hours = ctx.settings.leads.reclaim_hours
    note = f"not contacted within {hours} h: back to the public pool"
    stamp = _stamp(lead)
    repo.move(ctx.session, lead, "pool", ctx.now, "salesbot", note=note, next_check_at=None)
    customer = ctx.session.get(Customer, lead.customer_id) if lead.customer_id else None
    if customer is not None and owner is not None and customer.owner_id == owner.id:
        audit.set_field(ctx.session, customer, "owner_id", None, ctx.now, "salesbot", note)
        audit.set_field(ctx.session, customer, "status", "public", ctx.now, "salesbot", note)
    name = owner.name if owner else "原负责人"
    lines = (f"线索 {lead.code}「{lead.company}」分给 {name} 后 {hours} 小时未联系，已收回公海。",
             f"想跟进的同事请发送「申领 {lead.code} <理由>」。")
    outbox.post(ctx, [Card(title=f"线索收回公海：{lead.code} {lead.company}", lines=lines,
                           recipients=tuple(u.id for u in team_of(ctx, owner)), key=lead.code,
                           dedupe_key=f"lead:{lead.id}:{stamp}:reclaim")])
    return [f"{lead.code}: back to the public pool (was {owner.id if owner else None})"]


def team_of(ctx: Context, user: User | None) -> list[User]:
    """The rep, their manager and the manager's other reports (who may claim the lead)."""
    if user is None:
        return directory.with_role(ctx.session, "admin")
    boss = directory.manager_of(ctx.session, user)
    team = [user]
    if boss is not None:
        team += [boss, *(u for u in directory.reports_of(ctx.session, boss.id) if u.manager_id == boss.id)]
    return [u for u in dict.fromkeys(team) if u.active]


def _stamp(lead: Lead) -> str:
    """Distinguishes one assignment of a lead from the next (a claimed lead has its own ladder)."""
    return f"{lead.owner_id}:{local_time(lead.assigned_at, '%Y%m%d%H%M')}"
