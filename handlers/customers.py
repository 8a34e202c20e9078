"""Linking conversations to customers: the 关联 / 新客户 / 客户 commands and customer resolution."""

from __future__ import annotations

from handlers.amounts import format_amount
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.model import Card, InboundMessage
from handlers.names import typed_customer_name
from handlers.timefmt import local_time
from storage import audit, directory, opportunities, risks
from storage import customers as repo
from storage.models import Customer, User

STAGES = {"lead": "线索", "qualified": "已确认需求", "proposal": "方案/报价", "negotiation": "谈判",
          "won": "赢单", "lost": "输单"}
STATUSES = {"active": "跟进中", "public": "公海", "closed": "已关闭"}
APPROVAL_KINDS = {"quote": "报价", "contract": "合同"}


def customer_for(ctx: Context, msg: InboundMessage, user: User | None) -> Customer | None:
    """The customer a message belongs to: its linked conversation, the customer's identity, or the
    rep's current customer for notes typed to the bot one-to-one."""
    conv = repo.conversation(ctx.session, msg.platform, msg.conversation)
    if conv is not None and conv.customer_id is not None:
        return ctx.session.get(Customer, conv.customer_id)
    for external_id in (msg.sender if msg.from_customer else None, msg.conversation):
        found = repo.by_identity(ctx.session, msg.platform, external_id) if external_id else None
        if found is not None:
            return found
    if user is not None and msg.conversation_type == "single" and user.current_customer_id:
        return ctx.session.get(Customer, user.current_customer_id)
    return None


def actor_name(user: User | None, msg: InboundMessage) -> str:
    return user.id if user else f"{msg.platform}:{msg.sender}"


@router.command("关联", "关联 <客户名>", "把当前会话关联到客户（不存在则新建，归你负责）")
def link_customer(call: CommandCall) -> list[Card]:
    name = typed_customer_name(call.args)
    exact = repo.by_name(call.ctx.session, name)
    if exact is None:
        alike = repo.similar(call.ctx.session, name)
        if alike:
            return [_ask_which(call, name, alike)]
        exact = repo.create(call.ctx.session, name, call.user.id if call.user else None, call.ctx.now,
                            actor_name(call.user, call.message))
        return [_linked(call, exact, created=True)]
    return [_linked(call, exact, created=False)]


@router.command("新客户", "新客户 <客户名>", "确认新建客户（已有相似名称时使用）")
def new_customer(call: CommandCall) -> list[Card]:
    name = typed_customer_name(call.args, "新客户 华为技术有限公司")
    if repo.by_name(call.ctx.session, name) is not None:
        return [call.reply("客户已存在", f"「{name}」已经存在，直接发送「关联 {name}」即可。")]
    customer = repo.create(call.ctx.session, name, call.user.id if call.user else None, call.ctx.now,
                           actor_name(call.user, call.message))
    return [_linked(call, customer, created=True)]


def _ask_which(call: CommandCall, name: str, alike: list[Customer]) -> Card:
    lines = ["已有名称相似的客户，为避免重复，请确认是哪一个："]
    lines += [f"· {c.name}（负责人：{_owner_name(call.ctx, c)}）→ 发送「关联 {c.name}」" for c in alike]
    lines.append(f"如果确实是新客户，发送「新客户 {name}」。")
    return call.reply("请确认客户", *lines)


def _linked(call: CommandCall, customer: Customer, created: bool) -> Card:
    ctx, msg = call.ctx, call.message
    actor = actor_name(call.user, msg)
    if customer.status == "public" and call.user is not None:
        repo.change_owner(ctx.session, customer, call.user.id, ctx.now, actor, "claimed from the public pool")
        audit.set_field(ctx.session, customer, "status", "active", ctx.now, actor)
        repo.touch(customer, ctx.now)  # a claimed customer starts a fresh silence clock
        customer.silence_level = 0
    if msg.conversation_type == "group":
        repo.link_conversation(ctx.session, msg.platform, msg.conversation, customer, "group",
                               msg.conversation_title or None, ctx.now, actor)
        where = "本群的消息将记入该客户的时间线。"
    else:
        if call.user is not None:
            audit.set_field(ctx.session, call.user, "current_customer_id", customer.id, ctx.now, actor)
        where = "之后你发给我的记录都会记到这个客户名下。"
    title = "已新建并关联客户" if created else "已关联客户"
    return call.reply(title, f"客户：{customer.name}（负责人：{_owner_name(ctx, customer)}）", where)


@router.command("客户", "客户", "查看当前客户：负责人、阶段、最近活动、待办、审批和商机")
def show_customer(call: CommandCall) -> list[Card]:
    if call.args:
        raise UsageError("「客户」后面不用写内容；要切换客户请用「关联 <客户名>」。")
    customer = customer_for(call.ctx, call.message, call.user)
    if customer is None:
        return [call.reply("还没有关联客户", "先发送「关联 <客户名>」指定当前客户。")]
    return [call.reply(f"客户：{customer.name}", *describe(call.ctx, customer))]


def describe(ctx: Context, customer: Customer) -> list[str]:
    """The lines of a customer summary card."""
    last = local_time(customer.last_activity_at, "%Y-%m-%d %H:%M") if customer.last_activity_at else "无"
    lines = [
        f"负责人：{_owner_name(ctx, customer)}",
        f"阶段：{STAGES.get(customer.stage, customer.stage)}　状态：{STATUSES.get(customer.status, customer.status)}",
        f"最近活动：{last}",
    ]
    todos = repo.open_todos(ctx.session, customer.id)
    lines.append(f"未完成待办：{len(todos)} 项")
    lines += [f"· {t.code} {t.title}" for t in todos[:5]]
    approvals = repo.open_approvals(ctx.session, customer.id)
    lines.append(f"进行中的审批：{len(approvals)} 项")
    lines += [f"· {a.code} {APPROVAL_KINDS.get(a.kind, a.kind)} ￥{a.amount:,.0f}" for a in approvals[:5]]
    deals = opportunities.open_on_customer(ctx.session, customer.id)
    if deals:
        lines.append(f"进行中的商机：{len(deals)} 个")
        lines += [f"· {o.code} {o.name} · {o.stage}" + (f" · {format_amount(o.amount)}" if o.amount is not None else "")
                  for o in deals[:5]]
    open_risks = [r for r in risks.for_customer(ctx.session, customer.id) if r.status == "open"]
    if open_risks:
        lines.append(f"未关闭的风险：{len(open_risks)} 项")
        lines += [f"· {r.code} {r.label}「{r.keyword}」（{local_time(r.last_hit_at)}）" for r in open_risks[:5]]
    return lines


def _owner_name(ctx: Context, customer: Customer) -> str:
    owner = directory.get_user(ctx.session, customer.owner_id)
    return owner.name if owner else "无（公海）"
