"""Opportunities sitting in a stage too long: past the stage's max_days the opportunity turns yellow and
its owner is told; past twice max_days it turns red and the owner's manager is told. Each once per stage
entry (flag_level is the state; entering a stage resets it). Run by the scheduler's tick."""

from __future__ import annotations

from datetime import timedelta

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from handlers.opportunities.core import stage_named
from handlers.orgchart import manager_at, user_name
from handlers.timefmt import local_time
from storage import audit, directory
from storage import opportunities as repo
from storage.models import Customer, Opportunity

BATCH = 500


def flag_stale_opportunities(ctx: Context) -> list[str]:
    """Yellow + owner past max_days, red + manager past twice; a repeated tick tells nobody again."""
    limits = [s.max_days for s in ctx.settings.stages if s.max_days > 0 and not s.outcome]
    if not limits:
        return []
    lines: list[str] = []
    for opp in repo.open_in_stage_since(ctx.session, ctx.now - timedelta(days=min(limits)), BATCH):
        stage = stage_named(ctx, opp.stage)
        if stage is None or stage.max_days <= 0:
            continue
        waited = ctx.now - opp.entered_stage_at
        limit = timedelta(days=stage.max_days)
        if waited > limit * 2 and opp.flag_level < 2:
            lines += _raise(ctx, opp, 2, "red", stage.max_days)
        elif waited > limit and opp.flag_level < 1:
            lines += _raise(ctx, opp, 1, "yellow", stage.max_days)
    return lines


def _raise(ctx: Context, opp: Opportunity, level: int, flag: str, max_days: int) -> list[str]:
    before = opp.flag
    if not repo.claim_flag(ctx.session, opp, opp.flag_level, level, flag):
        return []
    audit.record(ctx.session, ctx.now, "system", repo.ENTITY, opp.id, "flag", before, flag,
                      f"{opp.stage} past {max_days * level} days")
    owner = directory.get_user(ctx.session, opp.owner_id)
    recipient = owner if level == 1 else manager_at(ctx, owner, 1) if owner else None
    if recipient is None:
        return [f"{opp.code}: {flag}, nobody to tell"]
    outbox.post(ctx, [_card(ctx, opp, level, max_days, recipient.id)])
    return [f"{opp.code}: {flag} -> {recipient.id}"]


def _card(ctx: Context, opp: Opportunity, level: int, max_days: int, recipient: str) -> Card:
    days = (ctx.now - opp.entered_stage_at).days
    customer = ctx.session.get(Customer, opp.customer_id)
    about = (f"商机：{opp.code} {opp.name}", f"客户：{customer.name if customer else opp.customer_id}",
             f"阶段：{opp.stage}（{local_time(opp.entered_stage_at)} 进入，已 {days} 天，正常不超过 {max_days} 天）")
    if level == 1:
        return Card(title=f"商机停滞（黄灯）：{opp.code}", lines=(
            "你的商机在当前阶段停留过久，已标黄。", *about,
            f"请推进（「阶段 {opp.code} <阶段>」）或补充证据；超过 {max_days * 2} 天会通知你的上级。"),
            recipients=(recipient,), key=opp.code, dedupe_key=f"opp-stale:{_entry(opp)}:L1")
    return Card(title=f"商机停滞（红灯）：{opp.code}", lines=(
        f"{user_name(ctx, opp.owner_id)} 的商机在当前阶段停留已超过 {max_days * 2} 天，已标红。", *about,
        f"请了解卡点并协助推进：「商机 {opp.code}」查看时间线。"),
        recipients=(recipient,), key=opp.code, dedupe_key=f"opp-stale:{_entry(opp)}:L2")


def _entry(opp: Opportunity) -> str:
    """One stage entry: the same stage entered again later is watched afresh."""
    return f"{opp.code}:{opp.entered_stage_at:%Y%m%d%H%M%S}"
