"""Scheduled checks (escalate, remind, recycle...) and `run_tick`, which runs them all once.

A check is a plain function `check(ctx) -> list[str]` that reads the time from ctx.now, posts its
cards through handlers.outbox and returns one line per thing it did. State columns in the database
make every check idempotent: running it twice at the same time does nothing the second time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from handlers.context import Context
from storage.db import transaction

log = logging.getLogger(__name__)

Check = Callable[[Context], list[str]]
CHECKS: dict[str, Check] = {}
CHECK_MODULES = ("scheduler.escalation", "scheduler.archive_pull", "scheduler.leads_jobs")


def scheduled_check(name: str) -> Callable[[Check], Check]:
    """Register a check run by every tick."""

    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return register


def load_check_modules() -> None:
    for name in CHECK_MODULES:
        importlib.import_module(name)


def run_tick(factory: sessionmaker[Session], settings: Settings, now: datetime) -> list[str]:
    """Run every registered check once as of `now`, each in its own transaction."""
    load_check_modules()
    lines: list[str] = []
    for name, check in CHECKS.items():
        try:
            with transaction(factory) as session:
                done = check(Context(session, settings, now))
        except Exception:
            log.exception("scheduled check %s failed; the others still run", name)
            lines.append(f"{name}: failed (see log)")
            continue
        lines += [f"{name}: {line}" for line in done]
    return lines
