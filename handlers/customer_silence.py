"""Silent customers: no activity for silent_remind_days reminds the owner; for silent_release_days the
customer goes back to the public pool (owner cleared, audited) and the owner's manager is told. Run by
the scheduler's tick (scheduler.escalation) with the clock and settings in ctx."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from handlers import orgchart, outbox
from handlers.context import Context
from handlers.model import Card
from handlers.sla import BATCH, directory_pinned, due_rows
from handlers.timefmt import duration, local_time
from storage import audit, directory
from storage import customers as repo
from storage.models import Customer
from storage.states import CustomerStatus


def recycle_silent(ctx: Context) -> list[str]:
    """No activity for silent_remind_days: remind the owner; for silent_release_days: back to the public
    pool (owner cleared, audited) and the owner's manager is told."""
    sla = ctx.settings.sla
    release_before = ctx.now - timedelta(days=sla.silent_release_days)
    remind_before = ctx.now - timedelta(days=sla.silent_remind_days)
    lines: list[str] = []
    with directory_pinned(ctx.session):
        for level in (0, 1):  # released straight away if the remind level was missed
            for customer in due_rows(partial(repo.silent, ctx.session, level, release_before, BATCH), _customer_id):
                lines += _release(ctx, customer, release_before)
        for customer in due_rows(partial(repo.silent, ctx.session, 0, remind_before, BATCH), _customer_id):
            lines += _remind_silent(ctx, customer, remind_before)
    return lines


def _customer_id(customer: Customer) -> int:
    return customer.id


def _silent_for(ctx: Context, customer: Customer) -> str:
    return duration(ctx.now - customer.last_activity_at) if customer.last_activity_at else "很久"


def _remind_silent(ctx: Context, customer: Customer, before: datetime) -> list[str]:
    if not repo.claim_silence(ctx.session, customer, 1, before):
        return []
    if customer.owner_id is None:
        return []  # nobody to remind; released like any other when the time comes
    release_at = (customer.last_activity_at or ctx.now) + timedelta(days=ctx.settings.sla.silent_release_days)
    outbox.post(ctx, [Card(
        title=f"客户沉默提醒：{customer.name} 已 {_silent_for(ctx, customer)}无动态",
        lines=(f"「{customer.name}」最近一次动态在 {local_time(customer.last_activity_at)}，"
               f"已经 {_silent_for(ctx, customer)}没有新动态。",
               f"如果到 {local_time(release_at)} 仍没有动态，客户将自动回收到公海，由主管重新分配。",
               "请尽快联系客户并记录跟进情况。"),
        recipients=(customer.owner_id,), key=f"C{customer.id}",
        dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:remind")])
    return [f"customer {customer.id}: owner {customer.owner_id} reminded"]


def _release(ctx: Context, customer: Customer, before: datetime) -> list[str]:
    owner_id = customer.owner_id
    if not repo.claim_silence(ctx.session, customer, 2, before, status=CustomerStatus.PUBLIC, owner_id=None, updated_at=ctx.now):
        return []
    days = ctx.settings.sla.silent_release_days
    note = f"no activity for {days} days: released to the public pool"
    audit.record(ctx.session, ctx.now, "salesbot", "customer", customer.id, "owner_id", owner_id, None, note)
    audit.record(ctx.session, ctx.now, "salesbot", "customer", customer.id, "status", CustomerStatus.ACTIVE, CustomerStatus.PUBLIC, note)
    owner = directory.get_user(ctx.session, owner_id)
    boss = orgchart.manager_at(ctx, owner)
    told = [boss] if boss else orgchart.admins(ctx)
    silent = _silent_for(ctx, customer)
    was = f"（原负责人 {owner.name}）" if owner else ""
    cards = [Card(
        title=f"客户已回收到公海：{customer.name}（{silent}无动态）",
        lines=(f"「{customer.name}」{was}已 {silent}没有动态，超过 {days} 天，已自动回收到公海。",
               f"请重新分配：新负责人发送「关联 {customer.name}」即可认领。"),
        recipients=tuple(u.id for u in told), key=f"C{customer.id}",
        dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:release")]
    if owner is not None:
        cards.append(Card(
            title=f"你的客户已回收到公海：{customer.name}",
            lines=(f"「{customer.name}」已 {silent}没有动态，按规定回收到公海，主管会重新分配。",),
            recipients=(owner.id,), key=f"C{customer.id}",
            dedupe_key=f"silent:C{customer.id}:{_stamp(customer)}:release-owner"))
    outbox.post(ctx, cards)
    return [f"customer {customer.id}: released to the public pool (was {owner_id})"]


def _stamp(customer: Customer) -> str:
    """Distinguishes one silent spell from the next (dedupe keys must not block a later one)."""
    return f"{customer.last_activity_at:%Y%m%d%H%M}" if customer.last_activity_at else "never"
