"""The public pool: `公海` lists what I may claim, `申领 <编号> <理由>` takes a lead or customer.

Leads land here when nobody was eligible, the industry fuse tripped or the rep never called back;
customers when they were silent for silent_release_days. Claims are capped per day and by what the
claimer already holds; the reason is stored with the claim and audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.leads import give
from handlers.model import Card
from handlers.timefmt import display_zone
from storage import audit
from storage import customers as customer_repo
from storage import leads as repo
from storage.models import Customer, Lead, User

LIST_LIMIT = 20


def _matches(ctx: Context, user: User, industry: str | None, region: str | None) -> bool:
    rep = ctx.settings.leads.rep(user.id)
    if industry and rep.industries and industry not in rep.industries:
        return False
    return not (ctx.settings.leads.match_region and region and rep.region and region != rep.region)


def pool_for(ctx: Context, user: User) -> tuple[list[Lead], list[Customer]]:
    """Claimable leads and released customers matching the user's industries and region."""
    leads = [lead for lead in repo.in_pool(ctx.session, 200) if _matches(ctx, user, lead.industry, lead.region)]
    stmt = select(Customer).where(Customer.status == "public").order_by(Customer.id).limit(200)
    of_leads = {lead.customer_id for lead in leads}  # a reclaimed lead's customer is listed once, as the lead
    customers = [c for c in ctx.session.scalars(stmt) if c.id not in of_leads and _matches(ctx, user, c.industry, None)]
    return leads[:LIST_LIMIT], customers[:LIST_LIMIT]


@router.command("公海", "公海", "列出公海里我可以申领的线索和客户")
def show_pool(call: CommandCall) -> list[Card]:
    assert call.user is not None
    leads, customers = pool_for(call.ctx, call.user)
    if not leads and not customers:
        return [call.reply("公海", "公海里暂时没有适合你的线索或客户。")]
    lines = [f"· {lead.code} {lead.company}" + (f"（{lead.industry}）" if lead.industry else "") for lead in leads]
    lines += [f"· C{c.id} {c.name}（已回收的客户）" for c in customers]
    lines.append("发送「申领 <编号> <理由>」认领，例如「申领 L12 熟悉该行业」。")
    return [call.reply("公海：可申领", *lines)]


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(display_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _refusal(ctx: Context, user: User) -> str | None:
    cfg = ctx.settings.leads
    today = repo.claims_since(ctx.session, user.id, _day_start(ctx.now))
    if today >= cfg.claim_daily_max:
        return f"你今天已申领 {today} 次，达到每日上限 {cfg.claim_daily_max}。"
    open_, stale = repo.loads(ctx.session, [user.id]).get(user.id, (0, 0))
    if open_ + stale >= cfg.claim_holding_max:
        return f"你手上已有 {open_ + stale} 条线索，达到持有上限 {cfg.claim_holding_max}，请先跟进。"
    return None


@router.command("申领", "申领 <编号> <理由>", "从公海申领线索（L12）或客户（C5），需写理由")
def claim(call: CommandCall) -> list[Card]:
    code, _, why = call.args.partition(" ")
    why = why.strip()
    if not code or not why:
        raise UsageError("请写上编号和理由，例如「申领 L12 熟悉该行业」。")
    assert call.user is not None
    refusal = _refusal(call.ctx, call.user)
    if refusal:
        return [call.reply("无法申领", refusal)]
    if code[:1] in "Cc":
        return _claim_customer(call, code, why)
    lead_id = repo.parse_code(code)
    lead = repo.get(call.ctx.session, lead_id) if lead_id else None
    if lead is None:
        raise UsageError(f"没有找到「{code}」：线索写 L12，客户写 C5。")
    if lead.status != "pool":
        return [call.reply("无法申领", f"线索 {lead.code} 不在公海里。")]
    reason = {**lead.reason, "rule": "claim", "picked": call.user.id, "why": f"{call.user.name} 从公海申领：{why}"}
    cards = give(call.ctx, lead, call.user.id, call.user.id, reason)
    repo.add_claim(call.ctx.session, call.user.id, call.ctx.now, why, lead_id=lead.id)
    return [*cards, call.reply(f"已申领线索 {lead.code}", f"{lead.company} 现在归你跟进。", f"理由：{why}")]


def _claim_customer(call: CommandCall, code: str, why: str) -> list[Card]:
    ctx, user = call.ctx, call.user
    assert user is not None
    customer = ctx.session.get(Customer, int(code[1:])) if code[1:].isdigit() else None
    if customer is None or customer.status != "public":
        return [call.reply("无法申领", f"「{code}」不是公海里的客户。")]
    customer_repo.change_owner(ctx.session, customer, user.id, ctx.now, user.id, f"claimed from the pool: {why}")
    audit.set_field(ctx.session, customer, "status", "active", ctx.now, user.id, why)
    customer_repo.touch(customer, ctx.now)
    customer.silence_level = 0
    repo.add_claim(ctx.session, user.id, ctx.now, why, customer_id=customer.id)
    return [call.reply(f"已申领客户 {customer.name}", "客户现在归你跟进。", f"理由：{why}")]
