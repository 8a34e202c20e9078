"""Scanning customers' words: risk events and their cards, the 应对 command, and the words listener.

The listener scans a stored message once with the keyword engine of the current settings and hands
each fired rule to its kind: risks here, to-dos in handlers.todos. A repeat of a risk on the same
customer inside `scan.cooldown_hours` joins the open event instead of raising another card.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers import customers as customer_handlers
from handlers import todos
from handlers.commands import CommandCall, parse_code, router
from handlers.context import Context
from handlers.model import Button, Card, InboundMessage
from handlers.opportunities.change_todo import raise_change_todo
from handlers.orgchart import active_user, fallback_recipients, may_act_for, owner_of, resolve_recipients
from handlers.scanning import RuleHits, engine_for, quote_words, spans_of
from handlers.settings import BusinessSettings, RuleConfig
from handlers.timefmt import local_time
from storage import risks
from storage.models import Customer, Message, RiskEvent, User

log = logging.getLogger(__name__)

SEVERITY_NAMES = {"high": "高", "medium": "中", "low": "低"}


# ------------------------------------------------------------------------------------- the listener


def scan_words(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage) -> list[Card]:
    """The words listener: a customer's words or a rep's note → risk cards and to-dos."""
    text = stored.text or ""
    if not text.strip():
        return []
    hits = engine_for(ctx.settings).scan(text)
    if hits and customer is not None:
        risks.lock_customer(ctx.session, customer.id)
    cards: list[Card] = []
    for rule in ctx.settings.rules:
        mine = tuple(h for h in hits if h.rule == rule.name)
        if not mine:
            continue
        found = RuleHits(rule, mine, text)
        if rule.kind == "risk":
            cards += raise_risk(ctx, stored, customer, msg, found)
        elif rule.kind == "todo":
            cards += todos.raise_todo(ctx, stored, customer, msg, found)
        elif rule.kind == "change":  # a new requirement: a to-do to record it with 变更
            cards += raise_change_todo(ctx, stored, customer, msg, found)
    return cards


# ---------------------------------------------------------------------------------------------- helpers


def outcome_of(customer: Customer) -> str:
    """What became of a customer: 赢单 / 输单 / 跟进中 (with the stage now)."""
    if customer.stage == "won":
        return "赢单"
    if customer.stage == "lost":
        return "输单"
    stage = customer_handlers.STAGES.get(customer.stage, customer.stage)
    status = "已回公海" if customer.status == "public" else "跟进中"
    return f"{status}（当前阶段：{stage}）"


# Risks raised by platform events rather than keyword rules: rule name -> the advice shown by 应对.
CONTACT_DELETED = "contact_deleted"
SYSTEM_RISKS = {
    CONTACT_DELETED: "尽快通过电话等其他渠道了解客户删除联系人的原因；必要时由主管或其他同事重新联系客户。",
}


def rule_named(settings: BusinessSettings, name: str) -> RuleConfig | None:
    return next((r for r in settings.rules if r.name == name), None)


# ---------------------------------------------------------------------------------------------- risks


def raise_risk(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage,
               found: RuleHits) -> list[Card]:
    """Store a risk event (or join the open one inside the cooldown) and say who must know."""
    if customer is None:
        return _risk_without_customer(ctx, stored, msg, found)
    open_event = _joinable_event(ctx, found.rule.name, customer.id)
    if open_event is not None:
        risks.join(open_event, ctx.now)
        log.info("risk %s on customer %s: repeat joins %s", found.rule.name, customer.id, open_event.code)
        return []
    event = _store_event(ctx, stored, customer, found)
    owner = owner_of(ctx, customer)
    recipients = resolve_recipients(ctx, found.rule.recipients, owner) or fallback_recipients(ctx)
    return [_risk_card(ctx, event, customer, owner, found, recipients)]


def _joinable_event(ctx: Context, rule: str, customer_id: int) -> RiskEvent | None:
    hours = ctx.settings.scan.cooldown_hours
    if hours <= 0:
        return None
    return risks.open_event(ctx.session, rule, customer_id, ctx.now - timedelta(hours=hours))


def _store_event(ctx: Context, stored: Message, customer: Customer | None, found: RuleHits) -> RiskEvent:
    rule = found.rule
    return risks.add_event(ctx.session, customer_id=customer.id if customer else None, rule=rule.name,
                           label=rule.label, severity=rule.severity, keyword=found.keyword, text=found.text,
                           message_id=stored.id, at=ctx.now)


def _risk_without_customer(ctx: Context, stored: Message, msg: InboundMessage, found: RuleHits) -> list[Card]:
    """A rep's note with no current customer: keep the event and tell the rep; nobody else to tell."""
    if msg.from_customer:
        # The words of a customer in a chat nobody linked: there is no one to tell, and never the customer.
        log.info("risk %s in unlinked %s conversation %r: no customer, no card", found.rule.name, msg.platform,
                 msg.conversation)
        return []
    event = _store_event(ctx, stored, None, found)
    rule = found.rule
    lines = [f"你的记录：「{found.quote()}」", f"风险：{rule.label}　级别：{SEVERITY_NAMES.get(rule.severity, rule.severity)}"]
    if rule.advice:
        lines.append(f"建议应对：{rule.advice}")
    lines.append("这条记录还没有关联客户，风险不会记到客户名下；发送「关联 <客户名>」后，之后的记录会记到该客户。")
    return [Card(title=f"风险提示：{rule.label}", lines=tuple(lines), reply_to=msg.reply_address(),
                 buttons=(Button("查看应对建议", f"应对 {event.code}"),), key=event.code)]


def _risk_card(ctx: Context, event: RiskEvent, customer: Customer, owner: User | None, found: RuleHits,
               recipients: tuple[str, ...]) -> Card:
    rule = found.rule
    lines = [
        f"客户：{customer.name}（负责人：{owner.name if owner else '无（公海）'}）",
        f"客户原话：「{found.quote()}」",
        f"风险：{rule.label}　级别：{SEVERITY_NAMES.get(rule.severity, rule.severity)}　编号：{event.code}",
    ]
    if rule.advice:
        lines.append(f"建议应对：{rule.advice}")
    lines += _case_lines(ctx, event, customer, with_words=False)
    return Card(title=f"客户风险提示：{rule.label}", lines=tuple(lines), recipients=recipients, key=event.code,
                buttons=(Button("查看应对建议", f"应对 {event.code}"),))


def _case_lines(ctx: Context, event: RiskEvent, customer: Customer | None, with_words: bool) -> list[str]:
    """Up to three earlier events of the same rule on other customers, and what became of them."""
    cases = risks.earlier_cases(ctx.session, event.rule, customer.id if customer else None, event.created_at)
    cases = [(e, c) for e, c in cases if e.id != event.id]
    if not cases:
        return ["历史同类案例：暂无"]
    lines = [f"历史同类案例（{len(cases)}）："]
    for past, other in cases:
        line = f"· {other.name}，{local_time(past.created_at)}：{outcome_of(other)}"
        if past.outcome:
            line += f"；处理：{past.outcome}"
        lines.append(line)
        if with_words:
            lines.append(f"　客户原话：「{quote_words(past.text, spans_of(ctx.settings, past.rule, past.keyword, past.text), 60)}」")
    return lines


# ---------------------------------------------------------------------------------------------- 应对


@router.command("应对", "应对 <编号>", "查看风险的完整应对建议：话术、客户原话、历史同类案例和客户概况")
def show_response(call: CommandCall) -> list[Card]:
    event_id = parse_code(call.args, "R", "应对 R12")
    ctx = call.ctx
    event = risks.get(ctx.session, event_id)
    if event is None:
        return [call.reply("没有找到", f"没有编号为 R{event_id} 的风险。")]
    customer = ctx.session.get(Customer, event.customer_id) if event.customer_id else None
    if call.user is None or not may_see(ctx, call.user, event, customer):
        return [call.reply("无权查看", f"风险 {event.code} 不属于你负责或管理的客户。")]
    return [call.reply(f"应对建议 {event.code}：{event.label}", *response_pack(ctx, event, customer), key=event.code)]


def may_see(ctx: Context, user: User, event: RiskEvent, customer: Customer | None) -> bool:
    """Directors, admins, the owner (or the rep who noted it) and their managers, and the rule's recipients."""
    if user.role in ("director", "admin"):
        return True
    if customer is None:
        message = ctx.session.get(Message, event.message_id) if event.message_id else None
        return may_act_for(ctx, user, active_user(ctx, message.sender_user_id if message else None))
    owner = owner_of(ctx, customer)
    if may_act_for(ctx, user, owner):
        return True
    rule = rule_named(ctx.settings, event.rule)
    return rule is not None and user.id in resolve_recipients(ctx, rule.recipients, owner)


def _when(event: RiskEvent) -> str:
    if event.hits <= 1:
        return f"时间：{local_time(event.created_at)}"
    return f"命中 {event.hits} 次（首次 {local_time(event.created_at)}，最近 {local_time(event.last_hit_at)}）"


def _what_and_advice(ctx: Context, event: RiskEvent, rule: RuleConfig | None) -> list[str]:
    """What happened (the customer's words, or the platform event) and the advice for it."""
    if event.rule in SYSTEM_RISKS:  # raised by a platform event, not by the customer's words
        return [f"情况：{event.text}", f"建议应对：{SYSTEM_RISKS[event.rule]}"]
    spans = spans_of(ctx.settings, event.rule, event.keyword, event.text)
    words = f"客户原话：「{quote_words(event.text, spans)}」"
    if rule is None:
        return [words, "建议应对：（该规则已不在配置中）"]
    return [words, f"建议应对：{rule.advice or '先弄清客户的具体顾虑，再与主管商量对策。'}"]


def response_pack(ctx: Context, event: RiskEvent, customer: Customer | None) -> list[str]:
    """The full 应对 pack: the advice, the words, earlier cases and the customer summary."""
    rule = rule_named(ctx.settings, event.rule)
    severity = SEVERITY_NAMES.get(event.severity, event.severity)
    lines = [
        f"客户：{customer.name}" if customer else "客户：未关联",
        f"级别：{severity}　{_when(event)}",
    ]
    lines += _what_and_advice(ctx, event, rule)
    lines += _case_lines(ctx, event, customer, with_words=True)
    if customer is not None:
        lines.append("客户概况：")
        lines += [f"　{line}" for line in customer_handlers.describe(ctx, customer)]
    return lines

