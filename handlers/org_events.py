"""Directory changes reported by a platform (someone left, someone changed), kept for hand-overs.

The events are stored as neutral events (OrgEvent: kind `member_left` / `member_changed`, the members'
platform ids, the event's to_dict as payload). A member who left is handed over at once
(handlers.handover) and the row marked handled.
"""

from __future__ import annotations

import logging

from handlers.context import Context
from handlers.event_model import MemberChanged, MemberLeft
from handlers.events import on_event
from handlers.handover import hand_over_departed
from handlers.model import Card
from storage import directory
from storage.models import OrgEvent

log = logging.getLogger(__name__)


@on_event(MemberLeft)
@on_event(MemberChanged)
def store_org_event(ctx: Context, event: MemberLeft | MemberChanged) -> list[Card]:
    """Keep the event; a leaver's customers, to-dos, leads and approval steps are handed over now."""
    left = isinstance(event, MemberLeft)
    ctx.session.add(OrgEvent(platform=event.platform, kind=event.type, platform_user_ids=",".join(event.members),
                             payload=event.to_dict(), received_at=ctx.now, handled=left))
    log.info("%s %s stored for %s", event.platform, event.type, ", ".join(event.members) or "no user id")
    return member_left(ctx, event.platform, list(event.members)) if left else []


def member_left(ctx: Context, platform: str, platform_ids: list[str]) -> list[Card]:
    """Members who left the org: each one's customers, to-dos, leads and approval steps are handed over."""
    cards: list[Card] = []
    for platform_id in platform_ids:
        user = directory.user_by_platform_id(ctx.session, platform, platform_id)
        if user is not None:
            cards += hand_over_departed(ctx, user.id, ctx.now)
    return cards
