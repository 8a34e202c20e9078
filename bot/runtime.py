"""Wiring shared by the web app, the worker and the CLI: database, settings, channels."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.board_links import link_maker
from bot.config import ConfigError, Settings, load_settings
from bot.log_safety import LogBlock
from handlers.health.links import use_link_maker
from handlers.timefmt import use_zone
from storage.common import utcnow
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.directory import sync_users

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class SettingsHolder:
    """The current settings; reloads the config file when it changes (rules, approvals, users).

    An invalid edit keeps the previous settings and records the problem in `last_error`, which the
    caller reports (log, and a card to admins).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mtime = self._stat()
        self.last_error: ConfigError | None = None
        self._lock = threading.Lock()

    def _stat(self) -> float | None:
        if not self._settings.is_file:
            return None
        try:
            return Path(self._settings.source).stat().st_mtime
        except OSError:
            return None

    def current(self) -> Settings:
        return self._settings

    def reload_if_changed(self) -> tuple[Settings | None, ConfigError | None]:
        """(new settings, None) after a good edit, (None, error) after a bad one, (None, None) if unchanged."""
        with self._lock:
            mtime = self._stat()
            if mtime is None or mtime == self._mtime:
                return None, None
            self._mtime = mtime
            try:
                fresh = load_settings(self._settings.source)
            except ConfigError as exc:
                self.last_error = exc
                log.error("config edit rejected, previous config stays in force:\n    %s", LogBlock(str(exc)))
                return None, exc
            self._settings, self.last_error = fresh, None
            log.info("config reloaded from %s", fresh.source)
            return fresh, None


@dataclass
class Runtime:
    """Everything a process needs to serve: settings, database and outgoing channels."""

    holder: SettingsHolder
    engine: Engine
    factory: sessionmaker[Session]
    channels: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        use_link_maker(link_maker(self.holder.current()))  # 看板 replies carry a one-time board login link

    @property
    def settings(self) -> Settings:
        return self.holder.current()

    def close(self) -> None:
        """Close pooled database connections (a CLI command ends; tests finish)."""
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_runtime(settings: Settings, migrate: bool | None = None) -> Runtime:
    """Connect to the database (upgrading SQLite automatically); no channels yet (see
    bot.channels.attach_channels, which sits above the platform modules that import this one)."""
    use_zone(settings.server.timezone)  # every time a user or admin reads is in the configured zone
    engine = make_engine(settings.database.url)
    if migrate if migrate is not None else settings.database.is_sqlite:
        upgrade(engine)
    factory = make_session_factory(engine)
    runtime = Runtime(SettingsHolder(settings), engine, factory)
    return runtime


def sync_directory(runtime: Runtime) -> int:
    """Make the users table match [[users]]; returns how many fields changed."""
    with transaction(runtime.factory) as session:
        return sync_users(session, runtime.settings.users, utcnow())
