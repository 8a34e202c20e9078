"""Directory changes reported by a platform (someone left, someone changed), kept for hand-overs.

The events are stored as they came (OrgEvent). A leaver (DingTalk user_leave_org, WeCom change_contact
delete_user) is handed over at once (handlers.handover) and the row marked handled.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.context import Context
from handlers.events import on_event
from handlers.handover import hand_over_departed
from handlers.model import Card, InboundEvent
from storage import directory
from storage.models import OrgEvent

log = logging.getLogger(__name__)

DINGTALK_ORG_CHANGES = ("user_leave_org", "user_modify_org")


def store_org_event(ctx: Context, event: InboundEvent) -> list[Card]:
    """Keep the event for the hand-over work; nobody is notified yet."""
    ids = platform_user_ids(event.data)
    left = event.kind == "user_leave_org"
    ctx.session.add(OrgEvent(platform=event.platform, kind=event.kind, platform_user_ids=",".join(ids),
                             payload=event.data, received_at=ctx.now, handled=left))
    log.info("%s %s stored for %s", event.platform, event.kind, ", ".join(ids) or "no user id")
    return member_left(ctx, event.platform, ids) if left else []


def member_left(ctx: Context, platform: str, platform_ids: list[str]) -> list[Card]:
    """Members who left the org: each one's customers, to-dos, leads and approval steps are handed over."""
    cards: list[Card] = []
    for platform_id in platform_ids:
        user = directory.by_platform_id(ctx.session, platform, platform_id)
        if user is not None:
            cards += hand_over_departed(ctx, user.id, ctx.now)
    return cards


def platform_user_ids(data: dict[str, Any]) -> list[str]:
    """The user ids an org event is about (DingTalk: UserId over HTTP, userId over Stream; list or one)."""
    for key in ("UserId", "userId", "UserIds", "userIds"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value if v]
    return []


for _kind in DINGTALK_ORG_CHANGES:
    on_event("dingtalk", _kind)(store_org_event)


@on_event("wecom", "change_contact")
def wecom_member_changed(ctx: Context, event: InboundEvent) -> list[Card]:
    """WeCom's contacts-sync callback: a deleted member (delete_user) is handed over like a DingTalk leaver."""
    if event.data.get("ChangeType") != "delete_user" or not event.data.get("UserID"):
        return []
    ctx.session.add(OrgEvent(platform="wecom", kind="delete_user", platform_user_ids=str(event.data["UserID"]),
                             payload=event.data, received_at=ctx.now, handled=True))
    return member_left(ctx, "wecom", [str(event.data["UserID"])])
