"""Untrusted values never forge log lines: every %-argument of a log record has its control characters
escaped (a msgId of "1\\n2026-12-01 INFO approved" is logged as `1\\n2026…`, on one line).

Installed as the log-record factory when `bot` is imported, so it covers every logger of the process
(ours, werkzeug's, waitress's) and every handler, including pytest's caplog. The format string itself
is code, not input, and is left alone; text meant to span lines (a console card, a config report) is
passed as a LogBlock: its lines stay lines, indented so that none can pass for a record of its own.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators some viewers break lines on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class LogBlock(str):
    """Multi-line text logged on purpose; continuation lines are indented, other controls escaped."""


def _escape_char(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def escape(value: object) -> object:
    """A log argument made single-line; numbers and other non-text values pass unchanged."""
    if isinstance(value, LogBlock):
        return _CONTROL_BUT_NEWLINE.sub(_escape_char, value).replace("\n", "\n    ")
    if isinstance(value, str | BaseException):
        text = str(value)
        return _CONTROL.sub(_escape_char, text) if _CONTROL.search(text) else value
    return value


def _escaped_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(escape(a) for a in args)
    if isinstance(args, dict):
        return {k: escape(v) for k, v in args.items()}
    return args


def install() -> None:
    """Wrap the current log-record factory (once) so records carry escaped arguments."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "salesbot_escapes", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.args:
            record.args = _escaped_args(record.args)
        return record

    factory.salesbot_escapes = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
