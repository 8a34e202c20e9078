"""Outgoing channels: one per platform, chosen per recipient by the delivery job.

The console channel is always there: with no platform credentials (the embedded default) every card
is written to the log instead of being sent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot import platforms
from bot.config import Settings
from bot.log_safety import LogBlock
from bot.runtime import Runtime
from handlers.model import Address, Card
from scheduler.delivery import Channel

log = logging.getLogger("salesbot.cards")


class ConsoleChannel:
    """Writes cards to the log; used when a recipient cannot be reached on any platform."""

    name = "console"
    per_minute = 10_000

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        log.info("card for %s:\n    %s", address.user, LogBlock(card.text()))
        return None


def build_channels(settings: Settings, factory: sessionmaker[Session]) -> dict[str, Channel]:
    """The outgoing channels of the enabled registered platforms, plus the console; no other side effect
    (the services handlers use are wired by wire_services, where the runtime is built)."""
    return {"console": ConsoleChannel(), **platforms.build_channels(settings, factory)}


def wire_services(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Register every registered platform's services with handlers."""
    platforms.wire_services(settings, factory)


def attach_channels(runtime: Runtime) -> Runtime:
    """Give a runtime its outgoing channels and wire the platforms' services (for the commands that send)."""
    runtime.channels = build_channels(runtime.settings, runtime.factory)
    wire_services(runtime.settings, runtime.factory)
    return runtime
