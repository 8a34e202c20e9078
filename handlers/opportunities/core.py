"""The opportunity domain without its commands: open one, look one up, move it between the configured
stages (evidence required, hand-offs on entry, the customer's stage following), win and lose it.

Other features call `open_opportunity` (a qualified lead becomes an opportunity) and `move_stage`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from handlers.commands import parse_code
from handlers.context import Context
from handlers.model import Button, Card
from handlers.orgchart import is_above, role_name, user_name
from handlers.settings import StageConfig
from storage import audit, directory
from storage import opportunities as repo
from storage import todos as todo_repo
from storage.models import Customer, Opportunity, User

_CODE = re.compile(r"^[Oo](\d{1,9})$")
ROLE_FIELDS = {"销售": "owner_id", "方案": "solution_lead_id", "交付": "delivery_id", "客成": "success_id"}
FIELD_NAMES = {"owner_id": "销售", "solution_lead_id": "方案负责人", "delivery_id": "交付", "success_id": "客户成功",
               "stage": "阶段", "amount": "金额", "status": "状态", "flag": "标记", "evidence": "证据",
               "requirement": "需求变更", "created": "创建", "lost_reason": "输单原因",
               "manual_intervention": "人工干预", "expected_close_at": "预计成交"}
FLAG_NAMES = {"yellow": "黄", "red": "红"}


class Refused(Exception):
    """An opportunity command that cannot be done; title and lines are the Chinese reply."""

    def __init__(self, title: str, *lines: str) -> None:
        super().__init__(title)
        self.title, self.lines = title, lines


def code_id(word: str) -> int | None:
    """12 for "O12" / "o12", else None (a bare number is not an opportunity code here)."""
    match = _CODE.match(word.strip())
    return int(match.group(1)) if match else None


def load(ctx: Context, word: str) -> Opportunity:
    """The opportunity a code names (parse_code: 「O12」, any case); a malformed code is a UsageError."""
    opp_id = parse_code(word, "O", "商机 O12")
    opp = repo.get(ctx.session, opp_id)
    if opp is None:
        raise Refused("没有找到商机", f"没有编号为「{word[:20]}」的商机，请检查编号（形如 O12）。")
    return opp


def stage_named(ctx: Context, name: str) -> StageConfig | None:
    return next((s for s in ctx.settings.stages if s.name == name), None)


def outcome_stage(ctx: Context, outcome: str) -> StageConfig:
    return next(s for s in ctx.settings.stages if s.outcome == outcome)


def evidence_kinds(ctx: Context) -> list[str]:
    """Every evidence kind some stage asks for, in stage order (what 证据 accepts)."""
    kinds: list[str] = []
    for stage in ctx.settings.stages:
        kinds += [k for k in stage.evidence if k not in kinds]
    return kinds


def missing_evidence(ctx: Context, opp: Opportunity, stage: StageConfig) -> list[str]:
    have = repo.evidence_kinds(ctx.session, opp)
    return [k for k in stage.evidence if k not in have]


def how_to_add(opp: Opportunity, kinds: list[str]) -> list[str]:
    """The exact 证据 commands that would supply what is missing."""
    lines = ["添加方法：先在与客户的会话里发出（或收到）文件、图片或链接，然后发送"]
    lines += [f"「证据 {opp.code} {k} [说明]」" for k in kinds]
    lines.append("没有文件时，「证据 <编号> <类型> <说明>」会记一条文字证据。")
    return lines


def may_work_on(ctx: Context, user: User, opp: Opportunity) -> bool:
    """The people on the deal, and anyone above its owner."""
    if user.id in (opp.owner_id, opp.solution_lead_id, opp.delivery_id, opp.success_id):
        return True
    return is_manager_of_owner(ctx, user, opp)


def is_manager_of_owner(ctx: Context, user: User, opp: Opportunity) -> bool:
    return is_above(ctx, user, directory.get_user(ctx.session, opp.owner_id))


# ---------------------------------------------------------------------------------------------- opening


def open_opportunity(ctx: Context, customer: Customer, name: str, amount: Decimal | None,
                     owner: User | None, actor: str | None = None) -> Opportunity:
    """Open an opportunity on a customer in the first configured stage (for 商机 and for leads)."""
    first = ctx.settings.stages[0]
    opp = repo.create(ctx.session, customer_id=customer.id, name=name, amount=amount,
                      owner_id=owner.id if owner else None, stage=first.name, at=ctx.now,
                      actor=actor or (owner.id if owner else "system"))
    _customer_follows(ctx, customer, first, actor or (owner.id if owner else "system"))
    return opp


# ---------------------------------------------------------------------------------------------- moving


@dataclass(frozen=True)
class Move:
    """A stage move asked for: by whom, and for an override the reason."""

    actor: str
    override_reason: str = ""


def move_stage(ctx: Context, opp: Opportunity, stage: StageConfig, move: Move) -> list[Card]:
    """Enter `stage` (evidence already checked by the caller, or overridden): audit it, reset the dwell
    clock and flag, let the customer's stage follow and create the stage's hand-off to-dos."""
    note = f"manual override: {move.override_reason}" if move.override_reason else None
    if not repo.move_stage(ctx.session, opp, opp.stage, stage.name, ctx.now, move.actor, note,
                           stage.outcome or repo.OPEN):
        raise Refused("无需处理", f"{opp.code} 刚刚已被别人更新，请发送「商机 {opp.code}」查看现状。")
    if move.override_reason:
        audit.record(ctx.session, ctx.now, move.actor, repo.ENTITY, opp.id, "manual_intervention", None,
                     f"阶段 → {stage.name}", move.override_reason)
    customer = ctx.session.get(Customer, opp.customer_id)
    if customer is not None:
        _customer_follows(ctx, customer, stage, move.actor)
    return handoff_cards(ctx, opp, stage, customer)


def _customer_follows(ctx: Context, customer: Customer, stage: StageConfig, actor: str) -> None:
    if stage.customer_stage:
        audit.set_field(ctx.session, customer, "stage", stage.customer_stage, ctx.now, actor,
                        f"opportunity stage {stage.name}")


def handoff_cards(ctx: Context, opp: Opportunity, stage: StageConfig, customer: Customer | None) -> list[Card]:
    """Each on_enter hand-off: a to-do anyone with the role may claim (unclaimed, it escalates to the
    director through the to-do ladder), announced to everyone holding that role."""
    cards = []
    people = [f"{FIELD_NAMES[f]}：{user_name(ctx, getattr(opp, f))}" for f in ROLE_FIELDS.values()
              if getattr(opp, f)]
    for handoff in stage.on_enter:
        todo = todo_repo.add(ctx.session, title=f"{handoff.title}（{opp.code} {opp.name}）"[:200], at=ctx.now,
                             actor=f"opportunity:{opp.code}", role=handoff.role, customer_id=opp.customer_id,
                             detail=f"{opp.code} 进入「{stage.name}」；" + "；".join(people),
                             source_rule=f"stage:{stage.name}")
        claimers = tuple(u.id for u in directory.with_role(ctx.session, handoff.role))
        cards.append(Card(
            title=f"新待办 {todo.code}：{handoff.title}",
            lines=(f"商机 {opp.code} {opp.name}（客户：{customer.name if customer else opp.customer_id}）"
                   f"进入「{stage.name}」，需要{role_name(handoff.role)}认领。", *people,
                   f"谁来负责请回复「认领 {todo.code}」。"),
            buttons=(Button("认领", f"认领 {todo.code}"),), recipients=claimers, key=todo.code,
            dedupe_key=f"handoff:{todo.code}"))
    return cards
