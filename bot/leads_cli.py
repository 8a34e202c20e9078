"""`salesbot leads import FILE.csv` (and `leads report`): lead intake and reports from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.channels import attach_channels
from bot.cli_common import parse_time, settings_of
from bot.runtime import open_runtime, sync_directory, worker_id
from handlers.context import Context
from handlers.leads_intake import CsvReport, import_rows, read_csv
from handlers.leads_report import fairness, last_week
from storage.db import transaction

MakeSub = Callable[..., argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `leads import`, `leads report` and `org sync`."""
    add_org_commands(sub, make_sub)
    leads = make_sub(sub, "leads", "leads: import a CSV file, the fairness report", None)
    actions = leads.add_subparsers(metavar="ACTION")
    p = make_sub(actions, "import", "import leads from a CSV file (English or Chinese headers); bad rows are "
                 "reported as 第N行 and skipped, good rows imported; re-running imports nothing twice", cmd_import)
    p.add_argument("file", metavar="FILE", help="CSV, UTF-8 (with or without BOM); - for stdin")
    p.add_argument("--source", default="csv", help="source of rows without a source column (default: csv)")
    p.add_argument("--at", help=argparse.SUPPRESS)
    p = make_sub(actions, "report", "the lead fairness report: per rep and team, quality bands, first-contact "
                 "times, conversion, deviation flags (default: the last 7 days)", cmd_report)
    p.add_argument("--week", action="store_true", help="last calendar week (Monday to Monday, China time)")
    p.add_argument("--at", help="as of this ISO-8601 time (default: now)")


def cmd_import(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"salesbot leads import: {args.file}: cannot be read as UTF-8 text: {exc}", file=sys.stderr)
        return 1
    rows, problems = read_csv(text, args.source)
    report = CsvReport(problems=problems)
    at = parse_time(args.at)
    settings = settings_of(args)
    with attach_channels(open_runtime(settings)) as runtime:
        sync_directory(runtime)
        with transaction(runtime.factory) as session:
            import_rows(Context(session, settings, at), rows, f"import:{Path(args.file).name}", report)
        from scheduler.runner import Worker

        Worker(runtime.factory, runtime.holder.current, runtime.channels, worker_id(), clock=lambda: at).pump()
    for intake in report.imported:
        lead = intake.lead
        print(f"{lead.code} {lead.company}: {lead.status}" + (f" -> {lead.owner_id}" if lead.owner_id else ""))
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(json.dumps({"imported": len(report.imported), "repeated": report.repeated, "bad": len(report.problems)}))
    return 1 if report.problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    at = parse_time(args.at)
    start, end = last_week(at) if args.week else (at - timedelta(days=7), at)
    settings = settings_of(args)
    with open_runtime(settings) as runtime, runtime.factory() as session:
        report = fairness(Context(session, settings, at), start, end)
    for line in report.lines():
        print(line)
    return 0


def add_org_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `org sync`."""
    org = make_sub(sub, "org", "the org directory", None)
    actions = org.add_subparsers(metavar="ACTION")
    p = make_sub(actions, "sync", "read the directory from WeCom / DingTalk now ([[users]] still set role and "
                 "prefer); members who left are made inactive and handed over", cmd_org_sync)
    p.add_argument("--at", help=argparse.SUPPRESS)


def cmd_org_sync(args: argparse.Namespace) -> int:
    from handlers import outbox
    from handlers.org_sync import sync_org
    from scheduler.runner import Worker

    at = parse_time(args.at)
    settings = settings_of(args)
    with attach_channels(open_runtime(settings)) as runtime:
        sync_directory(runtime)
        with transaction(runtime.factory) as session:
            ctx = Context(session, settings, at)
            lines, cards = sync_org(ctx)
            outbox.post(ctx, cards)
        Worker(runtime.factory, runtime.holder.current, runtime.channels, worker_id(), clock=lambda: at).pump()
    for line in lines or ["no platform directory is configured"]:
        print(line)
    return 0 if lines and not any("unavailable" in line for line in lines) else 1
