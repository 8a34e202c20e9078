"""The `salesbot` command: serve, worker, tick, check-config, db upgrade, and the plug-in modules' commands.

A command imports what it runs, when it runs: the plug-in modules and the runtime (database, platforms)
load inside the commands that use them, so `salesbot rules test` starts without the web stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.cli_common import (
    EXIT_CONFIG,
    SubCommand,
    common_options,
    parse_time,
    settings_of,
    start_worker,
    sub_command,
)
from bot.config import ConfigError, load_settings

__all__ = ["EXIT_CONFIG", "build_parser", "configure_output", "main"]

log = logging.getLogger("salesbot")

AddCommands = Callable[[argparse._SubParsersAction, SubCommand], None]


@dataclass(frozen=True)
class PlugIn:
    """A plug-in module's top-level commands and a function importing it (its add_commands): a run
    imports the plug-ins of the command it names, so that `rules test` loads no web stack."""

    commands: tuple[str, ...]
    load: Callable[[], AddCommands]


def _wecom_cli() -> AddCommands:
    from bot import wecom_cli

    return wecom_cli.add_commands


def _dingtalk_stream() -> AddCommands:
    from bot import dingtalk_stream

    return dingtalk_stream.add_commands


def _rules_cli() -> AddCommands:
    from bot import rules_cli

    return rules_cli.add_commands


def _console() -> AddCommands:
    from bot import console

    return console.add_commands


def _demo() -> AddCommands:
    from bot import demo

    return demo.add_commands


def _outbox_cli() -> AddCommands:
    from bot import outbox_cli

    return outbox_cli.add_commands


def _leads_cli() -> AddCommands:
    from bot import leads_cli

    return leads_cli.add_commands


def _report_cli() -> AddCommands:
    from bot import report_cli

    return report_cli.add_commands


# Extra subcommands contributed by plug-in modules: each module's add_commands(sub, sub_command).
# A new plug-in module imports what it needs from bot.cli_common (never bot.cli) and is listed here with
# the commands it adds (the seam test checks both).
PLUGIN_COMMANDS: tuple[PlugIn, ...] = (
    PlugIn(("archive",), _wecom_cli), PlugIn(("dingtalk-stream",), _dingtalk_stream), PlugIn(("rules",), _rules_cli),
    PlugIn(("console",), _console), PlugIn(("demo",), _demo), PlugIn(("outbox",), _outbox_cli),
    PlugIn(("leads", "org"), _leads_cli), PlugIn(("report",), _report_cli),
)
BUILT_IN = ("serve", "worker", "tick", "check-config", "db")


def plug_ins_for(argv: Sequence[str] | None) -> tuple[PlugIn, ...]:
    """The plug-ins a command line needs: those adding a command it names; all of them when it names none
    (`salesbot --help` lists every command, an unknown one is refused with the full list)."""
    if argv is None:
        return PLUGIN_COMMANDS
    words = set(argv)
    named = tuple(p for p in PLUGIN_COMMANDS if words & set(p.commands))
    return named if named or words & set(BUILT_IN) else PLUGIN_COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
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


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with the plug-in commands `argv` needs (all of them without argv)."""
    parser = argparse.ArgumentParser(prog="salesbot", description="Sales management inside WeCom and DingTalk.",
                                     epilog=f"Exit status: 0 done, 1 the command failed, {EXIT_CONFIG} an invalid "
                                            "config or command line.")
    common_options(parser, None)
    sub = parser.add_subparsers(metavar="COMMAND")
    p = sub_command(sub, "serve", "run web + scheduler + delivery in one process", cmd_serve)
    p.add_argument("--host", help="address to listen on (default: [server] host)")
    p.add_argument("--port", type=int, help="port to listen on (default: [server] port)")
    sub_command(sub, "worker", "run scheduler + delivery alone (beside gunicorn web workers)", cmd_worker)
    p = sub_command(sub, "tick", "run every scheduled check once as of a time and send what it raises", cmd_tick)
    p.add_argument("--at", help="ISO-8601 time (default: now; without a zone: [server] timezone)")
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("path", nargs="?", help="the file (default: --config, $SALESBOT_CONFIG, ./config.toml)")
    p.add_argument("--config", dest="config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_check_config)
    db = sub_command(sub, "db", "database maintenance", None)
    dbsub = db.add_subparsers(metavar="ACTION")
    sub_command(dbsub, "upgrade", "create or migrate the schema to the latest version", cmd_db_upgrade)
    for plug_in in plug_ins_for(argv):
        plug_in.load()(sub, sub_command)
    return parser


def configure_output(verbose: int) -> None:
    """Logging for a CLI run: Alembic's per-migration INFO lines only with -v; no ANSI colours in the
    log when stderr is not a terminal (or NO_COLOR is set)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)
    if not sys.stderr.isatty() or os.environ.get("NO_COLOR"):
        import werkzeug.serving

        werkzeug.serving._log_add_style = False  # its request log colours status codes with ANSI escapes


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
    from bot.runtime import open_runtime, sync_directory
    from storage.db import upgrade

    settings = settings_of(args)
    with open_runtime(settings, migrate=False) as runtime:
        upgrade(runtime.engine)
        changed = sync_directory(runtime)
    print(f"database at the latest schema; {changed} directory changes applied")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.channels import attach_channels
    from bot.runtime import open_runtime, sync_directory
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
    from bot.channels import attach_channels
    from bot.runtime import open_runtime, sync_directory

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


def cmd_tick(args: argparse.Namespace) -> int:
    from bot.channels import attach_channels
    from bot.runtime import open_runtime, sync_directory, worker_id
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
