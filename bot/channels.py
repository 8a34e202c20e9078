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
from bot.log_safety import LogBlock
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


# platform name -> "module:factory"; factory(settings, session_factory) -> Channel
PLATFORM_CHANNELS = {"wecom": "bot.wecom:build_channel", "dingtalk": "bot.dingtalk:build_channel"}


def build_channels(settings: Settings, factory: sessionmaker[Session]) -> dict[str, Channel]:
    channels: dict[str, Channel] = {"console": ConsoleChannel()}
    for platform, target in PLATFORM_CHANNELS.items():
        if not getattr(settings, platform).enabled:
            continue
        module_name, func = target.split(":")
        channels[platform] = getattr(importlib.import_module(module_name), func)(settings, factory)
    return channels
