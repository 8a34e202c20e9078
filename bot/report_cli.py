"""`salesbot report [--week 2026-W48] [--team ID] [--html FILE]`: the weekly process-health report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from bot.cli_common import settings_of
from bot.runtime import open_runtime
from handlers.health import weekly
from handlers.health.weeks import parse_week, week_of
from storage import directory
from storage import reports as runs
from storage.db import transaction

MakeSub = Callable[..., argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `report`."""
    p = make_sub(sub, "report", "print the weekly process-health report (or write it as HTML)", cmd_report)
    p.add_argument("--week", help="ISO week, e.g. 2026-W48 (default: this week, up to now)")
    p.add_argument("--team", metavar="ID", help="a manager's directory id: their team (default: the company)")
    p.add_argument("--html", metavar="FILE", help="write an HTML page instead of printing")


def cmd_report(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    now = datetime.now(UTC)
    try:
        week = parse_week(args.week, now) if args.week else week_of(now, now)
    except ValueError:
        print(f"salesbot: --week {args.week!r} is not an ISO week such as 2026-W48", file=sys.stderr)
        return 2
    with open_runtime(settings) as runtime, transaction(runtime.factory) as s:
        manager = directory.get_user(s, args.team) if args.team else None
        if args.team and manager is None:
            print(f"salesbot: --team {args.team!r} is not a user in the directory", file=sys.stderr)
            return 1
        report = weekly.build(s, settings, manager, week)
        names = runs.user_names(s)
        lines = weekly.lines(report, names, settings.report.board_url)
    if args.html:
        Path(args.html).write_text(render_html(report.title, lines), encoding="utf-8")
        print(f"wrote {args.html}")
        return 0
    print(report.title)
    for line in lines:
        print(line)
    return 0


def render_html(title: str, lines: list[str]) -> str:
    env = Environment(loader=PackageLoader("bot", "templates"), autoescape=select_autoescape(default=True))
    return env.get_template("report.html").render(title=title, lines=lines)
