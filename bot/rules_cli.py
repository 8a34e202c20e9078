"""`salesbot rules test FILE`: show which keyword rules fire on sample messages, before deploying them.
`salesbot rules report`: how the readers of risk cards voted, and what to change in the rules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bot.cli_common import settings_of
from handlers.keywords import explain_lines, rules_test_json
from handlers.scanning import engine_for

MakeSub = Callable[..., argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `rules test`."""
    rules = make_sub(sub, "rules", "keyword rules: try them on sample messages", None)
    actions = rules.add_subparsers(metavar="ACTION")
    p = make_sub(actions, "test", "print, for each line of FILE, the rules that fire with their labels (one JSON "
                 "object a line)",
                 cmd_rules_test)
    p.add_argument("file", metavar="FILE", help="one customer message per line (UTF-8; - for stdin)")
    p.add_argument("--explain", action="store_true",
                   help="instead of JSON, say in Chinese for each line which keyword, negation or cue decided and why")
    r = make_sub(actions, "report", "precision per rule from the 有用/误报 votes, the keywords with most false "
                 "alarms and a suggested sense cue for each (in Chinese)", cmd_rules_report)
    r.add_argument("--days", type=int, default=0, help="only votes of the last N days (default: all)")


def cmd_rules_test(args: argparse.Namespace) -> int:
    settings = settings_of(args)  # a bad config is refused before any input is read
    engine = engine_for(settings)
    lines = read_lines(args.file)
    if lines is None:
        return 1
    labels = {rule.name: rule.label for rule in settings.rules}
    if args.explain:
        for text in explain_lines(engine, lines, labels):
            print(text)
        return 0
    out = sys.stdout
    chunk: list[str] = []
    for text in rules_test_json(engine, lines, labels):
        chunk.append(text)
        if len(chunk) >= OUTPUT_CHUNK:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")
    return 0


OUTPUT_CHUNK = 512  # lines written at once: one write per line costs more than the scan


def read_lines(name: str) -> list[str] | None:
    """The file's lines (any newline convention, BOM dropped), or None after printing why it can't be read."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"salesbot rules test: {name}: {_why(exc)}", file=sys.stderr)
        return None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _why(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, expected a text file with one message per line"
    return f"cannot be read: {exc.strerror or exc}"


def cmd_rules_report(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from bot.runtime import open_runtime
    from handlers.context import Context
    from handlers.risk_feedback import rules_report
    from storage.common import utcnow

    settings = settings_of(args)
    now = utcnow()
    since = now - timedelta(days=args.days) if args.days > 0 else None
    runtime = open_runtime(settings)
    try:
        with runtime.factory() as session:
            report = rules_report(Context(session, settings, now), since)
    finally:
        runtime.engine.dispose()
    for line in report.lines():
        print(line)
    return 0
