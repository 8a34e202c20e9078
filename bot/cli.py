"""The `salesbot` command: serve, worker, tick, check-config, db upgrade, rules test, archive import."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.channels import attach_channels, build_channels, wire_services
from bot.config import ConfigError, Settings, load_settings
from bot.runtime import Runtime, open_runtime, sync_directory, worker_id
from handlers.timefmt import zone_of
from storage.db import upgrade

log = logging.getLogger("salesbot")
EXIT_CONFIG = 2  # an invalid config, in every command (like a command-line usage error)

# Extra subcommands contributed by platform modules: name -> (module, add_parser function name)
PLUGIN_COMMANDS = ("bot.wecom_cli", "bot.dingtalk_stream", "bot.rules_cli", "bot.console", "bot.demo",
                   "bot.outbox_cli", "bot.leads_cli", "bot.report_cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_output(getattr(args, "verbose", 0))
    if not getattr(args, "func", None):
        # `salesbot db` alone: the help of `db`, not of salesbot
        getattr(args, "group_parser", parser).print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salesbot", description="Sales management inside WeCom and DingTalk.",
                                     epilog=f"Exit status: 0 done, 1 the command failed, {EXIT_CONFIG} an invalid "
                                            "config or command line.")
    _common_options(parser, None)
    sub = parser.add_subparsers(metavar="COMMAND")
    p = _sub(sub, "serve", "run web + scheduler + delivery in one process", cmd_serve)
    p.add_argument("--host", help="address to listen on (default: [server] host)")
    p.add_argument("--port", type=int, help="port to listen on (default: [server] port)")
    _sub(sub, "worker", "run scheduler + delivery alone (beside gunicorn web workers)", cmd_worker)
    p = _sub(sub, "tick", "run every scheduled check once as of a time and send what it raises", cmd_tick)
    p.add_argument("--at", help="ISO-8601 time (default: now; without a zone: [server] timezone)")
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("path", nargs="?", help="the file (default: --config, $SALESBOT_CONFIG, ./config.toml)")
    p.add_argument("--config", dest="config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_check_config)
    db = _sub(sub, "db", "database maintenance", None)
    dbsub = db.add_subparsers(metavar="ACTION")
    _sub(dbsub, "upgrade", "create or migrate the schema to the latest version", cmd_db_upgrade)
    for module_name in PLUGIN_COMMANDS:
        _add_plugin(sub, module_name)
    return parser


def _sub(sub: argparse._SubParsersAction, name: str, help_: str,
         func: Callable[[argparse.Namespace], int] | None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_)
    # SUPPRESS: an option given before the subcommand is not reset by the subcommand's default
    _common_options(p, argparse.SUPPRESS)
    if func is not None:
        p.set_defaults(func=func)
    else:
        p.set_defaults(group_parser=p)
    return p


def _common_options(p: argparse.ArgumentParser, default: object) -> None:
    """--config and -v, accepted before or after the subcommand."""
    p.add_argument("--config", default=default,
                   help="config file (default: $SALESBOT_CONFIG, ./config.toml, embedded default)")
    p.add_argument("-v", "--verbose", action="count", default=default if default is not None else 0,
                   help="more log lines (e.g. each database migration step)")


def configure_output(verbose: int) -> None:
    """Logging for a CLI run: Alembic's per-migration INFO lines only with -v; no ANSI colours in the
    log when stderr is not a terminal (or NO_COLOR is set)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)
    if not sys.stderr.isatty() or os.environ.get("NO_COLOR"):
        import werkzeug.serving

        werkzeug.serving._log_add_style = False  # its request log colours status codes with ANSI escapes


def _add_plugin(sub: argparse._SubParsersAction, module_name: str) -> None:
    importlib.import_module(module_name).add_commands(sub, _sub)


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.path or args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_CONFIG
    print(settings.summary())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with open_runtime(settings, migrate=False) as runtime:
        upgrade(runtime.engine)
        changed = sync_directory(runtime)
    print(f"database at the latest schema; {changed} directory changes applied")
    return 0


def start_worker(runtime: Runtime) -> tuple[object, object]:
    """Start the background scheduler for this process; returns (worker, scheduler)."""
    from handlers.scanning import warm_up
    from scheduler.runner import Worker, start_background

    warm_up(runtime.settings)  # jieba's dictionary loads now (seconds), not while the first message waits
    reload_config = _config_reloader(runtime)
    worker = Worker(runtime.factory, runtime.holder.current, runtime.channels, worker_id(),
                    before_pump=reload_config)
    return worker, start_background(worker, runtime.settings)


def _config_reloader(runtime: Runtime, clock: Callable[[], datetime] | None = None) -> Callable[[], None]:
    def reload() -> None:
        before = runtime.settings
        fresh, error = runtime.holder.reload_if_changed()
        if fresh is not None:
            sync_directory(runtime)
            _rebuild_channels_if_needed(runtime, before, fresh)
        elif error is not None:  # the previous config stays in force; admins get a card saying why
            from handlers.admin import report_config_error

            report_config_error(runtime.factory, runtime.settings, error, (clock or _utcnow)())

    return reload


def _rebuild_channels_if_needed(runtime: Runtime, before: Settings, fresh: Settings) -> None:
    """New or changed platform credentials take effect without a restart (the worker holds this dict)."""
    if fresh.database != before.database:
        log.warning("[database] changed in %s: restart salesbot for it to take effect", fresh.source)
    if (fresh.wecom, fresh.dingtalk, fresh.platforms) == (before.wecom, before.dingtalk, before.platforms):
        return
    channels = build_channels(fresh, runtime.factory)
    wire_services(fresh, runtime.factory)
    runtime.channels.clear()
    runtime.channels.update(channels)
    log.info("platform settings changed: channels now %s", ", ".join(sorted(channels)))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.serve import make_server, stop_on_signals
    from scheduler.runner import wake

    settings = settings_of(args)
    runtime = attach_channels(open_runtime(settings))
    sync_directory(runtime)
    _worker, sched = start_worker(runtime)
    app = create_app(runtime=runtime, on_stored=lambda: wake(sched))  # type: ignore[arg-type]
    host, port = args.host or settings.server.host, args.port or settings.server.port
    server = make_server(app, host, port, settings.server)
    log.info("salesbot serving on http://%s:%s (config: %s, database: %s)", host, server.effective_port,
             settings.source, settings.database.url)
    stop_on_signals()
    try:
        server.run()
    finally:
        server.close()
        sched.shutdown(wait=True)  # type: ignore[attr-defined]
        runtime.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    runtime = attach_channels(open_runtime(settings))
    sync_directory(runtime)
    _worker, sched = start_worker(runtime)
    stop = threading.Event()
    _stop_on_signals(stop.set)
    log.info("salesbot worker running (config: %s)", settings.source)
    stop.wait()
    sched.shutdown(wait=True)  # type: ignore[attr-defined]
    runtime.close()
    return 0


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        threading.Thread(target=stop, daemon=True).start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


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


def cmd_tick(args: argparse.Namespace) -> int:
    from scheduler.jobs import run_tick
    from scheduler.runner import Worker

    settings = settings_of(args)
    at = parse_time(args.at, settings)
    with attach_channels(open_runtime(settings)) as runtime:
        sync_directory(runtime)
        worker = Worker(runtime.factory, runtime.holder.current, runtime.channels, worker_id(), clock=lambda: at)
        # No lease here: the checks are idempotent, so an operator's tick may run beside a worker.
        lines = run_tick(runtime.factory, settings, at)
        worker.pump()
    for line in lines:
        print(line)
    print(json.dumps({"at": at.isoformat(), "actions": len(lines)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
