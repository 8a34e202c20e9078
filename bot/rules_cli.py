"""`salesbot rules test FILE`: show which keyword rules fire on sample messages, before deploying them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cli import settings_of
from handlers.keywords import rules_test_report
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


def cmd_rules_test(args: argparse.Namespace) -> int:
    settings = settings_of(args)  # a bad config is refused before any input is read
    engine = engine_for(settings)
    lines = read_lines(args.file)
    if lines is None:
        return 1
    labels = {rule.name: rule.label for rule in settings.rules}
    for result in rules_test_report(engine, lines):
        print(json.dumps(with_labels(result, labels), ensure_ascii=False))
    return 0


def with_labels(result: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """Each rule id with the label admins know it by (竞品威胁): a `labels` list beside `rules`, a `label`
    in each hit. Fields are only added, so scripts reading the earlier output keep working."""
    result["labels"] = [labels.get(name, name) for name in result["rules"]]
    for hit in result["hits"]:
        hit["label"] = labels.get(hit["rule"], hit["rule"])
    return result


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
