"""Scanning customers' words: risk events and their cards, the 应对 command, and the words listener.

The listener scans a stored message once with the keyword engine of the current settings and hands
each fired rule to its kind: risks here, to-dos in handlers.todos. A repeat of a risk on the same
customer inside `scan.cooldown_hours` joins the open event instead of raising another card.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from handlers import customers as customer_handlers
from handlers import todos
from handlers.commands import CommandCall, parse_code, router
from handlers.context import Context
from handlers.model import Button, Card, InboundMessage
from handlers.opportunities.change_todo import raise_change_todo
from handlers.orgchart import active_user, fallback_recipients, may_act_for, owner_of, resolve_recipients
from handlers.scanning import RuleHits, quote_words, scanned, spans_of
from handlers.settings import BusinessSettings, RuleConfig
from handlers.timefmt import local_time
from storage import risks
from storage import todos as todo_repo
from storage.models import Customer, Message, RiskEvent, User

log = logging.getLogger(__name__)

SEVERITY_NAMES = {"high": "高", "medium": "中", "low": "低"}
MAX_CARD_BUTTONS = 6  # WeCom template cards show at most six


# ------------------------------------------------------------------------------------- the listener


def scan_words(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage) -> list[Card]:
    """The words listener: a customer's words or a rep's note → risk cards and to-dos."""
    text = stored.text or ""
    if not text.strip():
        return []
    hits = scanned(ctx.settings, text)
    if hits and customer is not None:
        risks.lock_customer(ctx.session, customer.id)
    cards: list[Card] = []
    risky: list[RuleHits] = []
    for rule in ctx.settings.rules:
        mine = tuple(h for h in hits if h.rule == rule.name)
        if not mine:
            continue
        found = RuleHits(rule, mine, text)
        if rule.kind == "risk":
            risky.append(found)
        elif rule.kind == "todo":
            cards += todos.raise_todo(ctx, stored, customer, msg, found)
        elif rule.kind == "change":  # a new requirement: a to-do to record it with 变更
            cards += raise_change_todo(ctx, stored, customer, msg, found)
    return raise_risks(ctx, stored, customer, msg, risky) + cards


def prepare_words_batch(ctx: Context, items: Sequence[tuple[Message, Customer | None, InboundMessage]]) -> None:
    """Before scan_words runs over a batch of messages in one transaction: lock, in one statement, the
    customers whose words fire a rule, and load their open risk events and to-dos in one query each;
    scan_words then decides "join or raise" for each message without asking the database again."""
    fired = {customer.id for stored, customer, _msg in items
             if customer is not None and (stored.text or "").strip() and scanned(ctx.settings, stored.text or "")}
    if not fired:
        return
    risks.lock_customers(ctx.session, fired)
    hours = ctx.settings.scan.cooldown_hours
    if hours > 0:
        since = ctx.now - timedelta(hours=hours)
        risks.preload_open_events(ctx.session, fired, since)
        todo_repo.preload_open_from_rules(ctx.session, fired, since)


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


def raise_risks(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage,
                found_all: Sequence[RuleHits]) -> list[Card]:
    """Store the message's risk events (or join open ones inside the cooldown) and tell who must know.

    One message sends each recipient one card listing every new risk meant for them; a rule with
    notify_mode = "daily" waits for the owner's daily digest instead.
    """
    if customer is None:
        return [card for found in found_all for card in _risk_without_customer(ctx, stored, msg, found)]
    new: list[tuple[RiskEvent, RuleHits]] = []
    for found in found_all:
        open_event = _joinable_event(ctx, found.rule.name, customer.id)
        if open_event is not None:
            risks.join(open_event, ctx.now)
            log.info("risk %s on customer %s: repeat joins %s", found.rule.name, customer.id, open_event.code)
            continue
        event = _store_event(ctx, stored, customer, found)
        if found.rule.notify_mode == "daily":
            event.digest_pending = True
            continue
        new.append((event, found))
    if not new:
        return []
    owner = owner_of(ctx, customer)
    by_recipient: dict[str, list[int]] = {}
    for i, (_event, found) in enumerate(new):
        for uid in resolve_recipients(ctx, found.rule.recipients, owner) or fallback_recipients(ctx):
            by_recipient.setdefault(uid, []).append(i)
    groups: dict[tuple[int, ...], list[str]] = {}
    for uid, ids in by_recipient.items():
        groups.setdefault(tuple(ids), []).append(uid)
    return [_risk_card(ctx, [new[i] for i in ids], customer, owner, tuple(uids)) for ids, uids in groups.items()]


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


def _risk_card(ctx: Context, items: Sequence[tuple[RiskEvent, RuleHits]], customer: Customer,
               owner: User | None, recipients: tuple[str, ...]) -> Card:
    """One card for the new risks of one message: the words with every keyword marked, each risk and its advice."""
    event, found = items[0]
    text = found.text
    spans = [(h.start, h.end) for _e, f in items for h in f.hits]
    lines = [
        f"客户：{customer.name}（负责人：{owner.name if owner else '无（公海）'}）",
        f"客户原话：「{quote_words(text, spans)}」",
    ]
    for ev, f in items:
        rule = f.rule
        lines.append(f"风险：{rule.label}　级别：{SEVERITY_NAMES.get(rule.severity, rule.severity)}　编号：{ev.code}")
        if rule.advice:
            lines.append(f"建议应对：{rule.advice}")
    buttons: tuple[Button, ...]
    if len(items) == 1:
        lines += _case_lines(ctx, event, customer, with_words=False)
        buttons = (Button("查看应对建议", f"应对 {event.code}"), Button("有用", f"有用 {event.code}", "default"),
                   Button("误报", f"误报 {event.code}", "danger"))
    else:
        lines += [f"{ev.code} {_tally_text(ctx, ev, customer)}" for ev, _f in items]
        lines.append("反馈：回复「有用 编号」或「误报 编号」，例如「误报 " + items[0][0].code + "」")
        shown = items[:MAX_CARD_BUTTONS // 2]
        buttons = tuple(Button(f"应对 {ev.code}", f"应对 {ev.code}") for ev, _f in shown) + tuple(
            Button(f"误报 {ev.code}", f"误报 {ev.code}", "danger") for ev, _f in shown)
        if len(shown) * 3 <= MAX_CARD_BUTTONS:
            buttons += tuple(Button(f"有用 {ev.code}", f"有用 {ev.code}", "default") for ev, _f in shown)
    labels = "、".join(f.rule.label for _e, f in items)
    return Card(title=f"客户风险提示：{labels}", lines=tuple(lines), recipients=recipients, key=event.code,
                buttons=buttons)


RESULT_NAMES = {"recovered": "挽回", "lost": "丢单", "no_effect": "无影响"}


def _tally_text(ctx: Context, event: RiskEvent, customer: Customer | None) -> str:
    """How earlier same-rule risks on other customers ended: 同类结案：挽回 3 · 丢单 1."""
    _cases, tally = risks.similar_cases(ctx.session, event, customer.industry if customer else None)
    if not tally:
        return f"{event.label}同类结案：暂无"
    return f"{event.label}同类结案：" + " · ".join(f"{RESULT_NAMES[k]} {tally[k]}" for k in RESULT_NAMES if k in tally)


def _case_lines(ctx: Context, event: RiskEvent, customer: Customer | None, with_words: bool) -> list[str]:
    """Up to three earlier events of the same rule on other customers, and what became of them."""
    cases, tally = risks.similar_cases(ctx.session, event, customer.industry if customer else None)
    if not cases:
        return ["历史同类案例：暂无"]
    lines = [f"历史同类案例（{len(cases)}）："]
    if tally:
        lines[0] += "结案 " + " · ".join(f"{RESULT_NAMES[k]} {tally[k]}" for k in RESULT_NAMES if k in tally)
    for past, other in cases:
        if past.result:
            line = f"· {other.name}，{local_time(past.created_at)}「{past.keyword}」：结案「{RESULT_NAMES.get(past.result, past.result)}」"
        else:
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

