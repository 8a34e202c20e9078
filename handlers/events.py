"""Neutral inbound events (handlers.event_model) dispatched by type to the handler registered for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from handlers.context import Context
from handlers.event_model import Event, event_from_dict, is_stored_event
from handlers.model import Card, InboundEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[Context, Any], list[Card]]
H = TypeVar("H", bound=EventHandler)
_handlers: dict[type[Event], EventHandler] = {}

# platform -> decoder of an inbound row stored before events were neutral (a raw InboundEvent);
# registered by the platform's edge, which is the only code that can read its payloads.
LegacyDecoder = Callable[[InboundEvent], Event | None]
_legacy: dict[str, LegacyDecoder] = {}


def on_event(event_type: type[Event]) -> Callable[[H], H]:
    """Register the handler for one neutral event type."""

    def register(fn: H) -> H:
        _handlers[event_type] = fn
        return fn

    return register


def handle_event(ctx: Context, event: Event) -> list[Card]:
    fn = _handlers.get(type(event))
    if fn is None:
        log.info("acknowledged %s %s with no handler", event.platform, event.type)
        return []
    return fn(ctx, event)


def register_legacy_decoder(platform: str, decode: LegacyDecoder | None) -> None:
    if decode is None:
        _legacy.pop(platform, None)
    else:
        _legacy[platform] = decode


def stored_event(payload: dict[str, Any]) -> Event | None:
    """The event of a stored inbound payload: a neutral event, or a raw one from before 0002 that its
    platform's edge decodes (None: nothing to do with it)."""
    if is_stored_event(payload):
        return event_from_dict(payload)
    raw = InboundEvent.from_dict(payload)
    decode = _legacy.get(raw.platform)
    if decode is None:
        log.warning("stored %s event %r: no decoder for its platform; acknowledged", raw.platform, raw.kind)
        return None
    return decode(raw)
