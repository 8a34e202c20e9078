"""`salesbot archive import FILE`: load decrypted WeCom archive messages (JSON lines) into salesbot.

Each line is one message in WeCom's decrypted format (msgid, action, from, tolist, roomid, msgtime,
msgtype, text.content). Messages travel the same pipeline as pulled ones (a customer's words are
scanned); importing a file twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from bot.channels import attach_channels
from bot.cli_common import settings_of
from bot.runtime import open_runtime, sync_directory, worker_id
from bot.wecom_archive import archive_record
from handlers.archive import IngestReport, ingest
from handlers.event_model import ArchivedMessage
from storage.common import utcnow
from storage.db import transaction

BATCH = 500


def add_commands(sub: argparse._SubParsersAction, make_sub: Callable[..., argparse.ArgumentParser]) -> None:
    group = make_sub(sub, "archive", "WeCom conversation archive", None)
    actions = group.add_subparsers(metavar="ACTION")
    p = make_sub(actions, "import", "import decrypted archive messages from a JSON-lines file ('-': stdin)",
                 cmd_archive_import)
    p.add_argument("file", help="one decrypted archive message (JSON) per line")
    p.add_argument("--no-handle", "--no-process", dest="no_process", action="store_true",
                   help="only store the messages; the worker handles them later")


def cmd_archive_import(args: argparse.Namespace) -> int:
    from scheduler.inbound import handle_all
    from scheduler.runner import Worker

    settings = settings_of(args)
    report, bad = IngestReport(), list[tuple[int, str]]()
    with attach_channels(open_runtime(settings)) as runtime:
        sync_directory(runtime)
        with _open(args.file) as stream:
            for batch in _batches(stream, bad):
                with transaction(runtime.factory) as session:
                    ingest(session, "wecom", _decoded(batch, report), utcnow(), report)
        for line_no, why in bad[:20]:
            print(f"{args.file}:{line_no}: skipped: {why}", file=sys.stderr)
        print(f"archive import: {report}; {len(bad)} unreadable lines")
        for reason, n in sorted(report.reasons.items()):
            print(f"  skipped {n}: {reason}")
        if not args.no_process:  # handle all of them now (timeline, scanning), then send what they raise
            me = worker_id()
            handled = handle_all(runtime.factory, runtime.settings, utcnow, me)
            print(f"archive import: {handled} stored items handled")
            Worker(runtime.factory, runtime.holder.current, runtime.channels, me).pump()
    return 1 if bad and not report.stored and not report.duplicates else 0


def _open(path: str) -> TextIO:
    if path == "-":
        return _NoClose(sys.stdin)  # type: ignore[return-value]
    try:
        return open(path, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with
    except OSError as exc:
        raise SystemExit(f"salesbot archive import: cannot read {path}: {exc.strerror}") from None


class _NoClose:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __enter__(self) -> TextIO:
        return self.stream

    def __exit__(self, *_exc: object) -> None:
        return None


def _batches(stream: TextIO, bad: list[tuple[int, str]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for line_no, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append((line_no, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            bad.append((line_no, "not a JSON object"))
            continue
        batch.append(record)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _decoded(batch: list[dict[str, Any]], report: IngestReport) -> list[ArchivedMessage]:
    """The neutral messages of a batch; what is not one is counted as skipped, with the reason."""
    found: list[ArchivedMessage] = []
    for data in batch:
        record = archive_record(0, data)
        if record.message is None:
            report.skip(record.skipped)
        else:
            found.append(record.message)
    return found
