"""The platform registry: everything salesbot needs to know about a chat platform, in one record.

A platform is its `bot/<platform>*.py` modules plus one `register(Platform(...))` line (the built-in
ones are at the bottom of this file): the webhook routes it adds to the app, the factory of its
outgoing channel, the services it gives handlers, its `[[users]]` id key and, for a platform beyond
the built-in two, the reader of its config section. The app, the runtime and the config loader take
the platforms from here; nothing else lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bot import config, dingtalk, wecom
from bot.config import PlatformConfigReader, Settings
from scheduler.delivery import Channel

if TYPE_CHECKING:
    from flask import Flask

    from bot.edge import AppState


@dataclass(frozen=True)
class Platform:
    """One chat platform as the edge wires it."""

    name: str
    init_app: Callable[[Flask, AppState], None]  # registers its webhook routes
    build_channel: Callable[[Settings, sessionmaker[Session]], Channel]  # its outgoing channel
    identity_key: str  # the [[users]] key holding a user's id there, e.g. "wecom_userid"
    wire_services: Callable[[Settings, sessionmaker[Session]], None] | None = None  # services for handlers
    read_config: PlatformConfigReader | None = None  # its config section (None: built into Settings)

    def enabled(self, settings: Settings) -> bool:
        return bool(getattr(settings.platform(self.name), "enabled", False))


_platforms: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    """Add a platform (or replace the one of that name); its config keys are accepted from now on."""
    _platforms[platform.name] = platform
    config.IDENTITY_KEYS[platform.name] = platform.identity_key
    if platform.read_config is not None:
        config.PLATFORM_SECTIONS[platform.name] = platform.read_config
    return platform


def unregister(name: str) -> None:
    """Remove a platform registered beyond the built-in ones (tests register toy platforms)."""
    _platforms.pop(name, None)
    if name not in config.PLATFORMS:
        config.IDENTITY_KEYS.pop(name, None)
        config.PLATFORM_SECTIONS.pop(name, None)


def registered() -> list[Platform]:
    return list(_platforms.values())


def build_channels(settings: Settings, factory: sessionmaker[Session]) -> dict[str, Any]:
    """The channel of every enabled platform (only the channels: services are wired separately)."""
    return {p.name: p.build_channel(settings, factory) for p in registered() if p.enabled(settings)}


def wire_services(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Register every platform's services with handlers (a disabled platform unregisters its own)."""
    for p in registered():
        if p.wire_services is not None:
            p.wire_services(settings, factory)


register(Platform("wecom", wecom.init_app, wecom.build_channel, "wecom_userid", wecom.wire_services))
register(Platform("dingtalk", dingtalk.init_app, dingtalk.build_channel, "dingtalk_userid", dingtalk.wire_services))
