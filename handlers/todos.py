"""To-dos raised by customers' requests, and the 待办 / 完成 / 认领 commands.

A todo rule's hit becomes a to-do for the customer's owner, due `rule.due_hours` later (the escalation
check starts then). A customer in the public pool has no owner: the to-do is claimable by any rep.
A repeated request while the same to-do is still open inside the cooldown adds its words to it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from handlers.commands import CommandCall, parse_code, router
from handlers.context import Context
from handlers.model import Button, Card, InboundMessage
from handlers.orgchart import active_user, may_act_for, owner_of, resolve_recipients
from handlers.scanning import RuleHits
from handlers.timefmt import local_time
from storage import directory
from storage import todos as repo
from storage.models import Customer, Message, Todo, User
from storage.states import TodoStatus

log = logging.getLogger(__name__)

UNOWNED_ROLE = "rep"  # who may claim the to-dos of customers without an owner
LIST_LIMIT = 20


# ---------------------------------------------------------------------------------------------- raising


def raise_todo(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage,
               found: RuleHits) -> list[Card]:
    """Create the to-do a request calls for and the card that announces it."""
    if customer is None:
        return _todo_without_customer(ctx, stored, msg, found)
    repeat = _open_repeat(ctx, customer.id, found.rule.name)
    if repeat is not None:
        repeat.detail = f"{repeat.detail}\n{found.text}".strip()
        log.info("todo %s on customer %s: repeated request added to %s", found.rule.name, customer.id, repeat.code)
        return []
    owner = owner_of(ctx, customer)
    todo = _create(ctx, stored, customer, found, owner)
    if owner is None:
        claimers = tuple(u.id for u in directory.with_role(ctx.session, UNOWNED_ROLE))
        return [todo_card(ctx, todo, customer, found, claimers)]
    card = todo_card(ctx, todo, customer, found, (owner.id,))
    copied = tuple(i for i in resolve_recipients(ctx, found.rule.recipients, owner) if i != owner.id)
    if not copied:
        return [card]
    # Others the rule names (finance for payment terms, say) get a copy without the owner's button.
    copy = replace(card, title=f"待办抄送 {todo.code}：{todo.title}", buttons=(), recipients=copied,
                   lines=(*card.lines, f"负责人：{owner.name}"))
    return [card, copy]


def _open_repeat(ctx: Context, customer_id: int, rule: str) -> Todo | None:
    hours = ctx.settings.scan.cooldown_hours
    if hours <= 0:
        return None
    return repo.open_from_rule(ctx.session, customer_id, rule, ctx.now - timedelta(hours=hours))


def _create(ctx: Context, stored: Message, customer: Customer | None, found: RuleHits, owner: User | None) -> Todo:
    rule = found.rule
    return repo.add(
        ctx.session, title=rule.label, at=ctx.now, actor=f"rule:{rule.name}", owner_id=owner.id if owner else None,
        role=None if owner else UNOWNED_ROLE, customer_id=customer.id if customer else None, detail=found.text,
        due_at=ctx.now + timedelta(hours=rule.due_hours), source_rule=rule.name, source_message_id=stored.id,
    )


def _todo_without_customer(ctx: Context, stored: Message, msg: InboundMessage, found: RuleHits) -> list[Card]:
    """A rep's own note with no current customer: the to-do is the rep's."""
    author = active_user(ctx, stored.sender_user_id)
    if msg.from_customer or author is None:
        log.info("todo %s in unlinked %s conversation %r: no customer, no owner", found.rule.name, msg.platform,
                 msg.conversation)
        return []
    todo = _create(ctx, stored, None, found, author)
    return [replace(todo_card(ctx, todo, None, found, ()), reply_to=msg.reply_address())]


def todo_card(ctx: Context, todo: Todo, customer: Customer | None, found: RuleHits,
              recipients: tuple[str, ...]) -> Card:
    """The card announcing a new to-do, with the button that closes (or claims) it."""
    rule = found.rule
    lines = [f"客户：{customer.name}" if customer else "客户：未关联（来自你的记录）",
             f"客户原话：「{found.quote()}」"]
    if todo.due_at is not None:
        lines.append(f"截止：{local_time(todo.due_at)}（{rule.due_hours} 小时内）")
    if rule.advice:
        lines.append(f"建议：{rule.advice}")
    if todo.owner_id is None:
        lines.append("该客户暂无负责人，谁来跟进请点「认领」。")
        button = Button("认领", f"认领 {todo.code}")
    else:
        button = Button("完成", f"完成 {todo.code}")
    return Card(title=f"新待办 {todo.code}：{todo.title}", lines=tuple(lines), buttons=(button,),
                recipients=recipients, key=todo.code)


# ---------------------------------------------------------------------------------------------- commands


@router.command("待办", "待办", "列出我未完成的待办（含截止时间，逾期标出）")
def list_todos(call: CommandCall) -> list[Card]:
    ctx, user = call.ctx, call.user
    assert user is not None  # members_only
    mine = repo.open_for_owner(ctx.session, user.id)
    lines = [_todo_line(ctx, t) for t in mine[:LIST_LIMIT]] or ["你没有未完成的待办。"]
    if len(mine) > LIST_LIMIT:
        lines.append(f"……另有 {len(mine) - LIST_LIMIT} 项未列出")
    claimable = repo.claimable(ctx.session, user.role)
    if claimable:
        lines.append("可认领：")
        lines += [_todo_line(ctx, t) + f" → 「认领 {t.code}」" for t in claimable[:LIST_LIMIT]]
    overdue = sum(1 for t in mine if _overdue(ctx, t))
    title = f"我的待办（{len(mine)} 项" + (f"，{overdue} 项已逾期）" if overdue else "）")
    return [call.reply(title, *lines)]


def _overdue(ctx: Context, todo: Todo) -> bool:
    return todo.due_at is not None and todo.due_at < ctx.now


def _todo_line(ctx: Context, todo: Todo) -> str:
    customer = ctx.session.get(Customer, todo.customer_id) if todo.customer_id else None
    line = f"· {todo.code} {todo.title}"
    if customer is not None:
        line += f" · {customer.name}"
    if todo.due_at is not None:
        line += f" · 截止 {local_time(todo.due_at)}"
        if _overdue(ctx, todo):
            line += "（已逾期）"
    return line


@router.command("完成", "完成 <编号>", "把待办标记为完成（负责人或其上级）")
def complete_todo(call: CommandCall) -> list[Card]:
    ctx, user = call.ctx, call.user
    assert user is not None  # members_only
    todo = repo.get(ctx.session, parse_code(call.args, "T", "完成 T12"))
    if todo is None:
        return [call.reply("没有找到", f"没有编号为 {call.args.strip().upper()} 的待办。")]
    refusal = _why_not_complete(ctx, user, todo)
    if refusal:
        return [call.reply("无法完成", refusal)]
    if not repo.close(ctx.session, todo, ctx.now, user.id):
        return [call.reply("无需处理", f"{todo.code} 刚刚已被标记完成。")]
    cards = [call.reply("待办已完成", f"{todo.code} {todo.title} 已标记完成。", key=todo.code)]
    if todo.owner_id != user.id:
        cards.append(Card(title="你的待办已被完成", lines=(f"{user.name} 已将 {todo.code} {todo.title} 标记完成。",),
                          recipients=(todo.owner_id,) if todo.owner_id else (), key=todo.code))
    return cards


def _why_not_complete(ctx: Context, user: User, todo: Todo) -> str | None:
    if todo.status != TodoStatus.OPEN:
        return f"{todo.code} 已经是完成状态。"
    if todo.owner_id is None:
        return f"{todo.code} 还没有人认领，请先发送「认领 {todo.code}」。"
    owner = ctx.session.get(User, todo.owner_id)
    if todo.owner_id == user.id or may_act_for(ctx, user, owner):
        return None
    return f"{todo.code} 不是你的待办，只有负责人或其上级可以标记完成。"


@router.command("认领", "认领 <编号>", "认领一条还没有负责人的待办")
def claim_todo(call: CommandCall) -> list[Card]:
    ctx, user = call.ctx, call.user
    assert user is not None  # members_only
    todo = repo.get(ctx.session, parse_code(call.args, "T", "认领 T12"))
    if todo is None:
        return [call.reply("没有找到", f"没有编号为 {call.args.strip().upper()} 的待办。")]
    refusal = _why_not_claim(ctx, user, todo)
    if refusal:
        return [call.reply("无法认领", refusal)]
    if not repo.claim(ctx.session, todo, user.id, ctx.now):
        return [call.reply("无法认领", f"{todo.code} 刚刚已被别人认领。")]
    due = f"，截止 {local_time(todo.due_at)}" if todo.due_at else ""
    return [call.reply("认领成功", f"{todo.code} {todo.title} 现在是你的待办{due}。",
                       buttons=(Button("完成", f"完成 {todo.code}"),), key=todo.code)]


def _why_not_claim(ctx: Context, user: User, todo: Todo) -> str | None:
    if todo.status != TodoStatus.OPEN:
        return f"{todo.code} 已经关闭。"
    if todo.owner_id is not None:
        owner = ctx.session.get(User, todo.owner_id)
        who = "你" if todo.owner_id == user.id else (owner.name if owner else todo.owner_id)
        return f"{todo.code} 已由{who}负责。"
    if not todo.role or todo.role != user.role:
        return f"{todo.code} 只能由角色为 {todo.role or '指定人员'} 的同事认领。"
    return None

