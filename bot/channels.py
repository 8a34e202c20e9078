"""Outgoing channels: one per platform, chosen per recipient by the delivery job.

The console channel is always there: with no platform credentials (the embedded default) every card
is written to the log instead of being sent.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from handlers.model import Address, Card
from scheduler.delivery import Channel

log = logging.getLogger("salesbot.cards")


class ConsoleChannel:
    """Writes cards to the log; used when a recipient cannot be reached on any platform."""

    name = "console"
    per_minute = 10_000

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        log.info("card for %s:\n%s", address.user, card.text())
        return None


# platform name -> "module:factory"; factory(settings, session_factory) -> Channel
PLATFORM_CHANNELS = {"wecom": "bot.wecom:build_channel", "dingtalk": "bot.dingtalk:build_channel"}


# platform name -> "module:function"; function(settings, session_factory) registers the services handlers
# use (contact directory, archive source...). Run explicitly where a runtime is built, not by build_channels.
PLATFORM_SERVICES = {"wecom": "bot.wecom:wire_services", "dingtalk": "bot.dingtalk:wire_services"}


def wire_services(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Register every platform's services with handlers (a disabled platform unregisters its own)."""
    for target in PLATFORM_SERVICES.values():
        module_name, func = target.split(":")
        getattr(importlib.import_module(module_name), func)(settings, factory)


def build_channels(settings: Settings, factory: sessionmaker[Session]) -> dict[str, Channel]:
    """The outgoing channels of the enabled platforms, plus the console; no other side effect."""
    channels: dict[str, Channel] = {"console": ConsoleChannel()}
    for platform, target in PLATFORM_CHANNELS.items():
        if not getattr(settings, platform).enabled:
            continue
        module_name, func = target.split(":")
        channels[platform] = getattr(importlib.import_module(module_name), func)(settings, factory)
    return channels
