"""Platform events (contact changes, card clicks, archive notifications, org changes) by kind."""

from __future__ import annotations

import logging
from collections.abc import Callable

from handlers.context import Context
from handlers.model import Card, InboundEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[Context, InboundEvent], list[Card]]
_handlers: dict[tuple[str, str], EventHandler] = {}


def on_event(platform: str, kind: str) -> Callable[[EventHandler], EventHandler]:
    """Register the handler for one platform's event kind."""

    def register(fn: EventHandler) -> EventHandler:
        _handlers[(platform, kind)] = fn
        return fn

    return register


def handle_event(ctx: Context, event: InboundEvent) -> list[Card]:
    fn = _handlers.get((event.platform, event.kind))
    if fn is None:
        log.info("acknowledged %s event %r with no handler", event.platform, event.kind)
        return []
    return fn(ctx, event)
