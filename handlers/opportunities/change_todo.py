"""A customer's new requirement (a `change` keyword rule: 新增 / 追加 / 还要加 / 验收标准): the to-do a
todo rule would raise, telling the owner how to put it on the deal with 变更."""

from __future__ import annotations

from dataclasses import replace

from handlers import todos
from handlers.context import Context
from handlers.model import Card, InboundMessage
from handlers.scanning import RuleHits
from storage import opportunities as repo
from storage.models import Customer, Message

SHOWN = 3


def raise_change_todo(ctx: Context, stored: Message, customer: Customer | None, msg: InboundMessage,
                      found: RuleHits) -> list[Card]:
    """The to-do card, with the exact 变更 command for each of the customer's open opportunities."""
    cards = todos.raise_todo(ctx, stored, customer, msg, found)
    if customer is None or not cards:
        return cards
    opps = repo.open_on_customer(ctx.session, customer.id)
    hints = [f"记到商机：「变更 {o.code} <技术|商务|法务> <客户决策人|使用部门|IT> <交付周期|报价|合同条款> <描述>」"
             f"（{o.name}）" for o in opps[:SHOWN]]
    if not hints:
        hints = [f"该客户还没有商机：先发送「商机 {customer.name} <名称>」创建，再用「变更」记录。"]
    return [replace(cards[0], lines=(*cards[0].lines, *hints)), *cards[1:]]
