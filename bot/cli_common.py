"""What the CLI and its plug-in command modules share: the exit status of a bad config, how a
subcommand is declared, the settings of a run, --at parsing and starting this process's worker.

bot.cli imports the plug-in modules (bot.wecom_cli, bot.dingtalk_stream, ...) a command needs and calls
their `add_commands(sub, sub_command)`; the plug-ins import this module, never bot.cli, so there is no
cycle. This module stays light (no database, no platform) because every command imports it.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Settings, load_settings
from handlers.timefmt import zone_of

if TYPE_CHECKING:  # the runtime (database, platforms) loads in the commands that open one
    from bot.runtime import Runtime

log = logging.getLogger("salesbot")
EXIT_CONFIG = 2  # an invalid config, in every command (like a command-line usage error)
# What a plug-in's add_commands(sub, sub_command) receives to declare a subcommand
SubCommand = Callable[[argparse._SubParsersAction, str, str, Callable[[argparse.Namespace], int] | None],
                      argparse.ArgumentParser]


def sub_command(sub: argparse._SubParsersAction, name: str, help_: str,
                func: Callable[[argparse.Namespace], int] | None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_)
    # SUPPRESS: an option given before the subcommand is not reset by the subcommand's default
    common_options(p, argparse.SUPPRESS)
    if func is not None:
        p.set_defaults(func=func)
    else:
        p.set_defaults(group_parser=p)
    return p


def common_options(p: argparse.ArgumentParser, default: object) -> None:
    """--config and -v, accepted before or after the subcommand."""
    p.add_argument("--config", default=default,
                   help="config file (default: $SALESBOT_CONFIG, ./config.toml, embedded default)")
    p.add_argument("-v", "--verbose", action="count", default=default if default is not None else 0,
                   help="more log lines (e.g. each database migration step)")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def start_worker(runtime: Runtime) -> tuple[object, object]:
    """Start the background scheduler for this process; returns (worker, scheduler)."""
    from bot.runtime import worker_id
    from handlers.scanning import warm_up
    from scheduler.runner import Worker, start_background

    warm_up(runtime.settings)  # jieba's dictionary loads now (seconds), not while the first message waits
    reload_config = config_reloader(runtime)
    worker = Worker(runtime.factory, runtime.holder.current, runtime.channels, worker_id(),
                    before_pump=reload_config)
    return worker, start_background(worker, runtime.settings)


def config_reloader(runtime: Runtime, clock: Callable[[], datetime] | None = None) -> Callable[[], None]:
    from bot.runtime import sync_directory

    def reload() -> None:
        before = runtime.settings
        fresh, error = runtime.holder.reload_if_changed()
        if fresh is not None:
            sync_directory(runtime)
            rebuild_channels_if_needed(runtime, before, fresh)
        elif error is not None:  # the previous config stays in force; admins get a card saying why
            from handlers.admin import report_config_error

            report_config_error(runtime.factory, runtime.settings, error, (clock or utcnow)())

    return reload


def rebuild_channels_if_needed(runtime: Runtime, before: Settings, fresh: Settings) -> None:
    """New or changed platform credentials take effect without a restart (the worker holds this dict)."""
    from bot.channels import build_channels, wire_services

    if fresh.database != before.database:
        log.warning("[database] changed in %s: restart salesbot for it to take effect", fresh.source)
    if (fresh.wecom, fresh.dingtalk, fresh.platforms) == (before.wecom, before.dingtalk, before.platforms):
        return
    channels = build_channels(fresh, runtime.factory)
    wire_services(fresh, runtime.factory)
    runtime.channels.clear()
    runtime.channels.update(channels)
    log.info("platform settings changed: channels now %s", ", ".join(sorted(channels)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None, settings: Settings | None = None) -> datetime:
    """--at: an ISO-8601 time; without a zone it is in the configured zone ([server] timezone)."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"salesbot: --at {value!r} is not an ISO-8601 time (e.g. 2026-11-22T09:30:00+08:00)") from None
    zone = zone_of((settings or Settings()).server.timezone)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
