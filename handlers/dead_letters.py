"""Cards that could not be delivered are never silent: the admins hear of each one."""

from __future__ import annotations

import logging
from typing import Any

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from storage import directory

log = logging.getLogger(__name__)

ADMIN_ROLE = "admin"
DEAD_CARD_KEY = "outbox-dead"


def dead_card_notice(ctx: Context, item_id: int, channel: str, target: str, card: dict[str, Any],
                     reason: str) -> list[Card]:
    """One card to every admin naming the undelivered card, its recipient and why, and how to resend."""
    if card.get("key") == DEAD_CARD_KEY:
        return []  # a notice about a notice would loop when the admins themselves are unreachable
    admins = tuple(u.id for u in directory.with_role(ctx.session, ADMIN_ROLE))
    if not admins:
        log.warning("outbox %s is dead and no user has role %r to tell", item_id, ADMIN_ROLE)
        return []
    lines = (f"卡片「{card.get('title', '')}」没能发给 {target}（{channel}）。", f"原因：{reason[:200]}",
             f"处理后可重发：salesbot outbox retry {item_id}；不再需要：salesbot outbox drop {item_id}")
    return [Card(title="卡片未能送达", lines=lines, recipients=admins, key=DEAD_CARD_KEY,
                 dedupe_key=f"{DEAD_CARD_KEY}:{item_id}")]


def tell_admins(ctx: Context, item_id: int, channel: str, target: str, card: dict[str, Any], reason: str) -> int:
    """Queue the admins' notice about one dead card (in the caller's transaction)."""
    return outbox.post(ctx, dead_card_notice(ctx, item_id, channel, target, card, reason))
