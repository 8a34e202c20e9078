"""Board login links: the edge signs them (it holds the secret), handlers put them on cards.

The edge registers its link maker when it opens the runtime (like timefmt.use_zone); without one (no
board configured) cards carry no link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

LinkMaker = Callable[[str, datetime], str]  # (directory user id, now) -> a one-time login URL

_maker: LinkMaker | None = None


def use_link_maker(maker: LinkMaker | None) -> None:
    global _maker
    _maker = maker


def login_link(user_id: str, now: datetime) -> str | None:
    """A one-time, short-lived link that logs `user_id` into the board; None when there is no board."""
    return _maker(user_id, now) if _maker is not None else None
