"""The org directory from the platforms: members, names, managers and leavers, synced on a schedule
and by `salesbot org sync`.

bot/ registers an OrgDirectory per platform (WeCom department/list + user/list with direct_leader and
status; DingTalk department/listsub + user/list + user/get for manager_userid). [[users]] in the config
still decide role and prefer for the users they list. A member the platform reports as left, or who is
gone from the listing, becomes inactive and is handed over (handlers.handover).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from handlers import outbox
from handlers.context import Context
from handlers.handover import hand_over_departed
from handlers.model import Card
from storage import directory
from storage.models import Cursor

log = logging.getLogger(__name__)

CURSOR = "org_sync_last"


@dataclass(frozen=True)
class OrgMember:
    """A member as the platform's directory lists them."""

    platform_id: str
    name: str
    manager_platform_id: str | None = None
    active: bool = True


class OrgDirectoryUnavailable(Exception):
    """The platform's directory API cannot be read right now."""


class OrgDirectory(Protocol):
    """Lists every member the app can see (implemented in bot/; it talks HTTP)."""

    def members(self) -> list[OrgMember]:
        """Everyone in the directory, left members included if the platform says so."""
        ...


_sources: dict[str, OrgDirectory] = {}


def register_org_directory(platform: str, source: OrgDirectory | None) -> None:
    if source is None:
        _sources.pop(platform, None)
    else:
        _sources[platform] = source


def sync_org(ctx: Context) -> tuple[list[str], list[Card]]:
    """Read every registered directory (no transaction open during the calls) and write it; leavers are
    handed over. Returns one line per platform and the hand-over cards."""
    ctx.session.commit()
    listings: dict[str, list[OrgMember]] = {}
    lines: list[str] = []
    enabled = outbox.enabled_platforms(ctx)
    for platform, source in sorted(_sources.items()):
        if platform not in enabled:
            continue
        try:
            listings[platform] = source.members()
        except OrgDirectoryUnavailable as exc:
            lines.append(f"{platform}: directory unavailable ({exc}); nothing changed")
    configured = {u.id for u in ctx.settings.users}
    cards: list[Card] = []
    for platform, members in listings.items():
        if not members:
            lines.append(f"{platform}: the directory listed nobody; nothing changed")  # never empty the org by mistake
            continue
        changes, left = directory.apply_org_members(ctx.session, platform, members, configured, ctx.now)
        for user_id in left:
            cards += hand_over_departed(ctx, user_id, ctx.now)
        lines.append(f"{platform}: {len(members)} members, {changes} changes, {len(left)} left")
    return lines, cards


def scheduled_org_sync(ctx: Context) -> list[str]:
    """Run sync_org every [leads] org_sync_hours (0: never on schedule)."""
    hours = ctx.settings.leads.org_sync_hours
    if not hours or not set(_sources) & outbox.enabled_platforms(ctx):
        return []
    cursor = ctx.session.get(Cursor, CURSOR)
    last = datetime.fromtimestamp(cursor.position, UTC) if cursor else None
    if last is not None and ctx.now - last < timedelta(hours=hours):
        return []
    if cursor is None:
        cursor = Cursor(name=CURSOR, position=0, updated_at=ctx.now)
        ctx.session.add(cursor)
    cursor.position, cursor.updated_at = int(ctx.now.timestamp()), ctx.now
    lines, cards = sync_org(ctx)
    outbox.post(ctx, cards)
    return lines
