"""Directory changes reported by a platform (someone left, someone changed), kept for hand-overs.

The events are stored as neutral events (OrgEvent: kind `member_left` / `member_changed`, the members'
platform ids, the event's to_dict as payload, `handled` false); the hand-over of a leaver's
customers, to-dos and approvals works from these rows.
"""

from __future__ import annotations

import logging

from handlers.context import Context
from handlers.event_model import MemberChanged, MemberLeft
from handlers.events import on_event
from handlers.model import Card
from storage.models import OrgEvent

log = logging.getLogger(__name__)


@on_event(MemberLeft)
@on_event(MemberChanged)
def store_org_event(ctx: Context, event: MemberLeft | MemberChanged) -> list[Card]:
    """Keep the event for the hand-over work; nobody is notified yet."""
    ctx.session.add(OrgEvent(platform=event.platform, kind=event.type, platform_user_ids=",".join(event.members),
                             payload=event.to_dict(), received_at=ctx.now, handled=False))
    log.info("%s %s stored for %s", event.platform, event.type, ", ".join(event.members) or "no user id")
    return []
