"""Post cards: resolve each recipient to a platform address and queue it in the outbox.

Runs inside the caller's transaction, so a card exists exactly when the change that caused it does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from handlers.context import Context
from handlers.model import Address, Card
from storage import directory
from storage.models import User
from storage.queues import add_outbox, collapsible_outbox, merge_into_outbox
from storage.states import OutboxStatus

log = logging.getLogger(__name__)

# Outbox priorities: receipts (「已记录」) wait behind decisions, escalations and risk cards.
PRIORITY_RECEIPT = -10
COLLAPSED_LINES = 5  # a merged receipt lists at most this many of its notes' lines


def enabled_platforms(ctx: Context) -> set[str]:
    return set(ctx.settings.enabled_platforms)


def address_of(ctx: Context, user: User) -> Address:
    """Where to reach a directory user: their preferred platform if usable, else any, else the log."""
    ids = directory.platform_ids(ctx.session, user.id)
    enabled = enabled_platforms(ctx)
    order = [user.prefer] if user.prefer else []
    order += ctx.settings.enabled_platforms
    for platform in order:
        if platform in enabled and ids.get(platform):
            return Address(platform, ids[platform] or "")
    return Address("console", user.id)


def post(ctx: Context, cards: Iterable[Card]) -> int:
    """Queue every card for each of its recipients; returns how many outbox rows were added."""
    added = 0
    for card in cards:
        for address, recipient_id in _addresses(ctx, card):
            added += _queue(ctx, card, address, recipient_id)
    return added


def _addresses(ctx: Context, card: Card) -> list[tuple[Address, str | None]]:
    found: list[tuple[Address, str | None]] = []
    if card.reply_to is not None:
        address = card.reply_to
        if address.platform not in enabled_platforms(ctx):
            address = Address("console", address.user)
        found.append((address, None))
    for user_id in dict.fromkeys(card.recipients):
        user = directory.get_user(ctx.session, user_id)
        if user is None:
            log.warning("card %r: recipient %r is not in the directory; not sent", card.title, user_id)
            continue
        address = address_of(ctx, user)
        if any(a.platform == address.platform and a.user == address.user for a, _ in found):
            continue  # the sender of the command is also a recipient: one card is enough
        found.append((address, user.id))
    return found


def _queue(ctx: Context, card: Card, address: Address, recipient_id: str | None) -> int:
    if card.collapse_key and _collapse(ctx, card, address):
        return 0
    dedupe = f"{card.dedupe_key}:{recipient_id or address.user}" if card.dedupe_key else None
    return int(
        add_outbox(
            ctx.session,
            dict(
                dedupe_key=dedupe, channel=address.platform, target=address.user, recipient_id=recipient_id,
                reply_webhook=address.reply_ref, reply_webhook_expires=address.reply_ref_expires,
                card=card.to_dict(), status=OutboxStatus.PENDING, attempts=0, created_at=ctx.now,
                next_attempt_at=ctx.now, priority=card.priority, collapse_key=card.collapse_key, collapsed=1,
            ),
        )
    )


def _collapse(ctx: Context, card: Card, address: Address) -> bool:
    """Merge `card` into a not yet attempted row with the same collapse key to the same person, if any:
    a rep typing ten notes in a minute gets one 「已记录」 covering them, not ten."""
    row = collapsible_outbox(ctx.session, address.platform, address.user, card.collapse_key or "")
    if row is None:
        return False
    earlier = Card.from_dict(row.card)
    count = row.collapsed + 1
    lines = tuple(dict.fromkeys(earlier.lines + card.lines))[-COLLAPSED_LINES:]
    base = card.title.split("（")[0]
    merged = Card.from_dict({**card.to_dict(), "title": f"{base}（{count} 条）", "lines": lines})
    return merge_into_outbox(ctx.session, row.id, merged.to_dict(), count)
