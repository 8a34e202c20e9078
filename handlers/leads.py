"""Lead intake, the duplicate check and scored assignment (the chat commands are handlers.leads_commands).

Every intake (chat, POST /api/leads, CSV, a WeCom channel QR code) hands a validated LeadInput to
`take_lead`. A lead whose company or phone matches a customer goes to that customer's owner as a
follow-up; a near match waits for a manager (`分配 L12` or `改派 L12 <人>`); anything else is scored
against the eligible reps (industry, 30-day win rate, live load, stale leads) and goes to the best one
— or to the public pool when the best one hit the same-industry fuse or nobody is eligible. The
scores are stored on the lead (`线索 L12` shows them), so every assignment can say why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from handlers.amounts import AmountError, format_amount, parse_amount
from handlers.context import Context
from handlers.model import Button, Card
from handlers.timefmt import display_zone, local_time
from storage import customers as customer_repo
from storage import directory
from storage import leads as repo
from storage.models import Customer, Lead, User

FIELDS = ("source", "company", "contact", "phone", "industry", "budget", "urgency", "region", "notes")
CHINESE_FIELDS = {"来源": "source", "公司": "company", "联系人": "contact", "电话": "phone", "行业": "industry",
                  "预算": "budget", "紧急程度": "urgency", "区域": "region", "备注": "notes"}
FIELD_NAMES = {v: k for k, v in CHINESE_FIELDS.items()}
MAX_LENGTH = {"source": 64, "company": 200, "contact": 128, "phone": 32, "industry": 64, "urgency": 32,
              "region": 64, "notes": 2000}
MANAGER_ROLES = ("manager", "director", "admin")
STATUS_NAMES = {"new": "新建", "assigned": "待首次联系", "contacted": "已联系", "invalid": "无效", "pool": "公海",
                "followup": "老客户跟进", "review": "待确认（疑似重复）"}


class LeadProblem(ValueError):
    """A lead field is missing or malformed; `field` is the English field name, the message Chinese."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


@dataclass(frozen=True)
class LeadInput:
    """A validated lead as any intake hands it over."""

    source: str
    company: str
    contact: str = ""
    phone: str = ""
    industry: str = ""
    budget: Decimal | None = None
    urgency: str = ""
    region: str = ""
    notes: str = ""
    client_key: str | None = None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*FIELDS, "client_key")}


def field_name(header: str) -> str | None:
    """The English field for a CSV header or JSON key (English or Chinese, any case, spaces ignored)."""
    key = unicodedata.normalize("NFKC", header).strip().lower()
    return key if key in FIELDS else CHINESE_FIELDS.get(key)


def validate(raw: Mapping[str, Any], default_source: str, client_key: str | None = None) -> LeadInput:
    """Check and clean one lead's fields; raise LeadProblem naming the first bad field."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = field_name(str(key))
        if name is None:
            raise LeadProblem(str(key), f"不认识的字段「{key}」")
        if value is not None and not isinstance(value, str | int | float) or isinstance(value, bool):
            raise LeadProblem(name, f"{FIELD_NAMES[name]}必须是文字或数字")
        values[name] = "" if value is None else unicodedata.normalize("NFKC", str(value)).strip()
    for name, limit in MAX_LENGTH.items():
        if len(values.get(name, "")) > limit:
            raise LeadProblem(name, f"{FIELD_NAMES[name]}太长（最多 {limit} 个字）")
    if not values.get("company"):
        raise LeadProblem("company", "公司不能为空")
    phone = values.get("phone", "")
    if phone and not 7 <= len(repo.phone_key(phone)) <= 15:
        raise LeadProblem("phone", f"电话「{phone}」不像电话号码")
    if phone and re.search(r"[^\d\s+\-()（）]", phone):
        raise LeadProblem("phone", f"电话「{phone}」含有非数字字符")
    return LeadInput(source=values.pop("source", "") or default_source, budget=_budget(values.pop("budget", "")),
                     client_key=client_key, **values)


def _budget(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise LeadProblem("budget", f"预算「{text}」不是金额（{exc}）") from None


# ---------------------------------------------------------------------------------------------- intake


@dataclass
class Intake:
    """What became of one lead: stored (or a repeat of an earlier one) and where it went."""

    lead: Lead
    created: bool
    cards: list[Card] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.lead.status


def take_lead(ctx: Context, data: LeadInput, actor: str) -> Intake:
    """Store a lead once (per source and client key) and route it; a repeat returns the earlier lead."""
    lead = repo.add(ctx.session, data.values(), ctx.now)
    if lead is None:
        earlier = repo.by_client_key(ctx.session, data.source, data.client_key or "")
        assert earlier is not None
        return Intake(earlier, created=False)
    return Intake(lead, created=True, cards=route(ctx, lead, actor))


def route(ctx: Context, lead: Lead, actor: str, near_ok: bool = False) -> list[Card]:
    """Duplicate check first, then assignment."""
    existing = repo.customer_matching(ctx.session, lead)
    if existing is not None and existing.owner_id:
        return _follow_up(ctx, lead, existing, actor)
    if existing is None and not near_ok:
        alike = repo.customers_alike(ctx.session, lead)
        if alike:
            return _ask_managers(ctx, lead, alike, actor)
    return assign(ctx, lead, actor, customer=existing)


def _follow_up(ctx: Context, lead: Lead, customer: Customer, actor: str) -> list[Card]:
    owner = directory.get_user(ctx.session, customer.owner_id)
    why = f"与已有客户「{customer.name}」相同（公司或电话一致），交给该客户的负责人跟进，不另派他人"
    repo.move(ctx.session, lead, "followup", ctx.now, actor, owner_id=customer.owner_id, customer_id=customer.id,
              assigned_at=ctx.now, reason={"rule": "duplicate", "picked": customer.owner_id, "why": why},
              note="duplicate of an existing customer")
    customer_repo.touch(customer, ctx.now)
    greeting = f"{owner.name}，" if owner else ""
    return [Card(title=f"老客户有新线索 {lead.code}：{customer.name}", lines=(greeting + why + "。", *brief(lead)),
                 recipients=(customer.owner_id or "",), key=lead.code, dedupe_key=f"lead:{lead.id}:followup")]


def _ask_managers(ctx: Context, lead: Lead, alike: list[Customer], actor: str) -> list[Card]:
    names = "、".join(c.name for c in alike)
    repo.move(ctx.session, lead, "review", ctx.now, actor,
              reason={"rule": "near_duplicate", "why": f"与已有客户相似：{names}", "alike": [c.id for c in alike]})
    lines = [f"线索 {lead.code}「{lead.company}」与已有客户名称相似，为避免两人跟进同一客户，请确认："]
    lines += [f"· {c.name}（负责人：{name_of(ctx, c.owner_id)}）→ 发送「改派 {lead.code} <负责人>」" for c in alike]
    lines.append(f"如果确实是新客户，发送「分配 {lead.code}」按规则分配。")
    return [Card(title=f"疑似重复线索 {lead.code}：{lead.company}", lines=tuple(lines),
                 buttons=(Button("按规则分配", f"分配 {lead.code}"),),
                 recipients=tuple(u.id for u in _managers(ctx)), key=lead.code, dedupe_key=f"lead:{lead.id}:review")]


def _managers(ctx: Context) -> list[User]:
    found = [u for role in ("manager", "director") for u in directory.with_role(ctx.session, role)]
    return found or directory.with_role(ctx.session, "admin")


# ------------------------------------------------------------------------------------------ assignment


@dataclass(frozen=True)
class Candidate:
    user_id: str
    industry: float
    win_rate: float
    load: float
    stale: float
    score: float
    fused: bool

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user_id, "industry": self.industry, "win_rate": self.win_rate, "load": self.load,
                "stale": self.stale, "score": self.score, "fused": self.fused}


@dataclass(frozen=True)
class Decision:
    user_id: str | None
    reason: dict[str, Any]


def china_day(at: datetime) -> str:
    return at.astimezone(display_zone()).strftime("%Y-%m-%d")


def decide(ctx: Context, lead: Lead) -> Decision:
    """The rep this lead goes to (None: the public pool) and why; the same state gives the same answer."""
    cfg = ctx.settings.leads
    eligible, excluded = _eligible(ctx, lead)
    load = repo.loads(ctx.session, eligible)
    today = repo.daily(ctx.session, eligible, china_day(ctx.now), lead.industry)
    wins = repo.win_rates(ctx.session, eligible, lead.industry, ctx.now - timedelta(days=cfg.win_rate_days))
    scored: list[Candidate] = []
    for uid in eligible:
        capacity = cfg.rep(uid).capacity or cfg.capacity
        open_, stale = load.get(uid, (0, 0))
        total, same = today.get(uid, (0, 0))
        if open_ + stale >= capacity:
            excluded[uid] = f"满负荷（{open_ + stale}/{capacity}）"
        elif total >= cfg.daily_cap:
            excluded[uid] = f"今日已分配 {total} 条，达到上限"
        else:
            scored.append(_score(ctx, uid, lead, wins.get(uid, 0.0), open_, stale, capacity,
                                 fused=bool(lead.industry) and same >= cfg.industry_daily_max))
    scored.sort(key=lambda c: (-c.score, c.user_id))
    reason: dict[str, Any] = {"rule": "score", "scores": [c.as_dict() for c in scored[:5]],
                              "excluded": dict(list(sorted(excluded.items()))[:20]), "eligible": len(scored)}
    if not scored:
        return Decision(None, {**reason, "rule": "pool", "why": "没有可分配的销售（休假、满负荷或已达今日上限）"})
    best = scored[0]
    if best.fused:
        why = (f"最合适的 {name_of(ctx, best.user_id)} 今日已分到 {cfg.industry_daily_max} 条「{lead.industry}」线索"
               "（行业熔断），转入公海")
        return Decision(None, {**reason, "rule": "fuse", "why": why})
    return Decision(best.user_id, {**reason, "picked": best.user_id, "why": _why(ctx, best)})


def _eligible(ctx: Context, lead: Lead) -> tuple[list[str], dict[str, str]]:
    """Active members with an assignable role, not on leave, in the lead's region; and who was left out."""
    cfg = ctx.settings.leads
    eligible: list[str] = []
    excluded: dict[str, str] = {}
    for uid in directory.active_ids_with_roles(ctx.session, cfg.roles):
        rep = cfg.rep(uid)
        if rep.on_leave:
            excluded[uid] = "休假"
        elif cfg.match_region and lead.region and rep.region and rep.region != lead.region:
            excluded[uid] = f"区域不符（{rep.region}）"
        else:
            eligible.append(uid)
    return eligible, excluded


def _score(ctx: Context, uid: str, lead: Lead, win_rate: float, open_: int, stale: int, capacity: int,
           fused: bool) -> Candidate:
    w = ctx.settings.leads.weights
    industry = 1.0 if lead.industry and lead.industry in ctx.settings.leads.rep(uid).industries else 0.0
    # stale (untouched) leads do not lower the load: they count as load and once more as a penalty
    load = max(0.0, 1.0 - (open_ + stale) / capacity)
    penalty = min(1.0, stale / capacity)
    score = w.industry * industry + w.win_rate * win_rate + w.load * load - w.stale * penalty
    return Candidate(uid, industry, round(win_rate, 4), round(load, 4), round(penalty, 4), round(score, 4), fused)


def _why(ctx: Context, best: Candidate) -> str:
    parts = [f"得分 {best.score:.2f}", "行业匹配" if best.industry else "行业不匹配",
             f"近{ctx.settings.leads.win_rate_days}天该行业成单率 {best.win_rate:.0%}", f"空闲度 {best.load:.0%}"]
    if best.stale:
        parts.append(f"超时未跟进扣分 {best.stale:.0%}")
    return f"分给 {name_of(ctx, best.user_id)}：" + "，".join(parts)


def assign(ctx: Context, lead: Lead, actor: str, customer: Customer | None = None) -> list[Card]:
    """Score the eligible reps and hand the lead to the best one, or put it in the public pool."""
    decision = decide(ctx, lead)
    if decision.user_id is None:
        repo.move(ctx.session, lead, "pool", ctx.now, actor, reason=decision.reason, note=decision.reason["why"])
        return []
    return give(ctx, lead, decision.user_id, actor, decision.reason, customer)


def give(ctx: Context, lead: Lead, user_id: str, actor: str, reason: dict[str, Any],
         customer: Customer | None = None) -> list[Card]:
    """Hand a lead to a rep: the customer record follows, the counters move, the first-contact clock starts."""
    customer = customer or (ctx.session.get(Customer, lead.customer_id) if lead.customer_id else None)
    if customer is None:
        customer = customer_repo.create(ctx.session, lead.company, user_id, ctx.now, actor)
        customer.industry = lead.industry or None
    else:
        customer_repo.change_owner(ctx.session, customer, user_id, ctx.now, actor, f"lead {lead.code}")
        if customer.status == "public":
            customer.status = "active"
        customer_repo.touch(customer, ctx.now)
    due = ctx.now + timedelta(hours=ctx.settings.leads.first_contact_hours)
    repo.move(ctx.session, lead, "assigned", ctx.now, actor, owner_id=user_id, customer_id=customer.id,
              assigned_at=ctx.now, contacted_at=None, sla_level=0, stale=False, next_check_at=due, reason=reason,
              note=reason.get("why"))
    repo.count_assignment(ctx.session, user_id, china_day(ctx.now), lead.industry)
    return [lead_card(ctx, lead)]


def lead_card(ctx: Context, lead: Lead) -> Card:
    """The rep's card: the brief, the deadline and the two answers."""
    hours = ctx.settings.leads.first_contact_hours
    lines = (*brief(lead), f"请在 {hours} 小时内首次联系（{local_time(lead.next_check_at)} 前），"
             f"{ctx.settings.leads.reclaim_hours} 小时未联系将收回公海。",
             f"无效线索请回复「无效 {lead.code} <原因>」。")
    return Card(title=f"新线索 {lead.code}：{lead.company}", lines=lines,
                buttons=(Button("已联系", f"已联系 {lead.code}"), Button("无效：联系不上", f"无效 {lead.code} 联系不上", "danger")),
                recipients=(lead.owner_id or "",), key=lead.code,
                dedupe_key=f"lead:{lead.id}:to:{lead.owner_id}:{local_time(lead.assigned_at, '%Y%m%d%H%M')}")


def brief(lead: Lead) -> list[str]:
    pairs = [("公司", lead.company), ("联系人", lead.contact), ("电话", lead.phone), ("行业", lead.industry),
             ("预算", format_amount(lead.budget) if lead.budget is not None else ""), ("紧急程度", lead.urgency),
             ("区域", lead.region), ("来源", lead.source), ("备注", lead.notes)]
    return [f"{name}：{value}" for name, value in pairs if value]


def name_of(ctx: Context, user_id: str | None) -> str:
    user = directory.get_user(ctx.session, user_id)
    return user.name if user else (user_id or "无")


def mark_contacted(ctx: Context, lead: Lead, actor: str, at: datetime | None = None) -> None:
    repo.clear_stale(ctx.session, lead)
    repo.move(ctx.session, lead, "contacted", ctx.now, actor, owner_id=lead.owner_id, contacted_at=at or ctx.now,
              next_check_at=None, stale=False)
