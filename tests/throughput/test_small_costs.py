"""Small costs on the hot paths: a cached insert statement, and wakes that do not pile up."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT, CACHE_MISS

from scheduler.runner import Worker, start_background, wake
from storage import leases
from storage.db import transaction
from tests.conftest import NOW


def test_insert_ignore_compiles_its_statement_once(runtime):
    hits: list[object] = []

    def record(conn, cursor, statement, params, context, executemany):
        if "ON CONFLICT" in statement:
            hits.append(context.cache_hit)

    event.listen(runtime.engine, "after_cursor_execute", record)
    try:
        for n in range(3):
            with transaction(runtime.factory) as s:
                leases.acquire(s, f"probe-{n}", "w1", NOW, timedelta(seconds=30))
    finally:
        event.remove(runtime.engine, "after_cursor_execute", record)
    assert hits == [CACHE_MISS, CACHE_HIT, CACHE_HIT]  # compiled for the first call only


def test_wakes_during_a_pump_are_coalesced_without_scheduler_warnings(runtime, caplog):
    started, release, again = threading.Event(), threading.Event(), threading.Event()
    passes: list[int] = []

    def before_pump() -> None:
        passes.append(1)
        if len(passes) == 1:
            started.set()
            release.wait(10)
        else:
            again.set()

    worker = Worker(runtime.factory, runtime.holder.current, {}, "w1", before_pump=before_pump)
    sched = start_background(worker, runtime.settings)
    try:
        assert started.wait(10)
        with caplog.at_level(logging.WARNING, logger="apscheduler"):
            for _ in range(50):  # fifty webhooks arrive while the first pump is busy
                wake(sched)
            release.set()
            assert again.wait(10)  # ... and are served by one more pass
    finally:
        sched.shutdown(wait=True)
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
