"""Benchmark one scheduler tick: its cost must follow what is due, not what is open.

Run from the repository root: ``python bench/bench_tick.py [--small N] [--large N] [--due N] [--repeat R]``.
Builds two SQLite file databases with bulk inserts — `small` and `large` open approvals (one waiting step
each), open to-dos and active customers, of which `due` of each kind are due — then times a full tick
(every scheduled check, then delivery of the cards it raised to a null channel) on a fresh copy of each,
`repeat` times, and compares the best times. Exits with status 1 if the large tick takes more than
twice as long as the small one, or if the ticks did not act on exactly the due rows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings, settings_from_mapping
from handlers.model import Address, Card
from scheduler.delivery import deliver_due
from scheduler.jobs import run_tick
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.directory import sync_users
from storage.models import Approval, ApprovalStep, Customer, OutboxItem, Todo

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MAX_RATIO = 2.0
CHUNK = 10_000
USERS = [
    {"id": "zhangsan", "name": "张三", "role": "rep", "manager": "lisi"},
    {"id": "lisi", "name": "李四", "role": "manager", "manager": "wangwu"},
    {"id": "wangwu", "name": "王五", "role": "director"},
]


class NullChannel:
    """Accepts every card; the benchmark measures salesbot, not a platform."""

    name = "console"
    per_minute = 1_000_000

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        return None


def bench_settings(url: str) -> Settings:
    return settings_from_mapping({
        "database": {"url": url},
        "users": USERS,
        "delivery": {"per_minute": 1_000_000, "batch_size": 500},
        "approvals": [{"kind": "quote", "sla_hours": 24, "steps": [{"approver": "manager"}]}],
    }, "bench")


def _chunks(rows: Iterator[dict], size: int = CHUNK) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _customers(n: int, due: int) -> Iterator[dict]:
    for i in range(1, n + 1):
        last = NOW - timedelta(days=31) if i <= due else NOW - timedelta(days=1, minutes=i % 1440)
        yield dict(id=i, name=f"客户{i:06d}", owner_id="zhangsan", stage="lead", status="active",
                   created_at=NOW - timedelta(days=90), updated_at=last, last_activity_at=last, silence_level=0)


def _approvals(n: int) -> Iterator[dict]:
    for i in range(1, n + 1):
        yield dict(id=i, kind="quote", customer_id=i, submitter_id="zhangsan", amount=Decimal(100_000 + i),
                   note="", status="pending", version=1, current_position=1, times_returned=0,
                   created_at=NOW - timedelta(hours=30))


def _steps(n: int, due: int) -> Iterator[dict]:
    for i in range(1, n + 1):
        started = NOW - timedelta(hours=25) if i <= due else NOW - timedelta(minutes=1 + i % 1200)
        yield dict(id=i, approval_id=i, position=1, approver_spec="manager", approver_id="lisi", status="pending",
                   sla_hours=24, started_at=started, escalation_level=0, next_check_at=started + timedelta(hours=24))


def _todos(n: int, due: int) -> Iterator[dict]:
    for i in range(1, n + 1):
        due_at = NOW - timedelta(hours=1) if i <= due else NOW + timedelta(minutes=1 + i % 10_000)
        yield dict(id=i, customer_id=i, owner_id="zhangsan", title=f"跟进事项 {i}", detail="", status="open",
                   created_at=NOW - timedelta(days=1), due_at=due_at, escalation_level=0, next_check_at=due_at)


def build(path: Path, open_rows: int, due: int) -> None:
    """A migrated database with `open_rows` open rows of each kind, `due` of them due at NOW."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = make_session_factory(engine)
    settings = bench_settings(f"sqlite:///{path}")
    with transaction(factory) as session:
        sync_users(session, settings.users, NOW)  # type: ignore[arg-type]  # frozen dataclass vs Protocol
    for model, rows in ((Customer, _customers(open_rows, due)), (Approval, _approvals(open_rows)),
                        (ApprovalStep, _steps(open_rows, due)), (Todo, _todos(open_rows, due))):
        for batch in _chunks(rows):
            with transaction(factory) as session:
                session.execute(insert(model), batch)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def timed_tick(template: Path, workdir: Path, run: int) -> tuple[float, float, list[str], int]:
    """(seconds for the checks, seconds for checks + delivery, tick lines, cards sent) on a fresh copy."""
    path = workdir / f"{template.stem}-run{run}.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    settings = bench_settings(f"sqlite:///{path}")
    _warm(factory)
    start = time.perf_counter()
    lines = run_tick(factory, settings, NOW)
    checked = time.perf_counter()
    sent = 0
    while (report := deliver_due(factory, {"console": NullChannel()}, NOW, settings.delivery, "bench")).sent:
        sent += len(report.sent)
    total = time.perf_counter() - start
    _check_outcome(factory, sent)
    engine.dispose()
    path.unlink()
    return checked - start, total, lines, sent


def _warm(factory: sessionmaker[Session]) -> None:
    """Open the connection and read the schema outside the timed part."""
    with factory() as session:
        session.execute(text("SELECT count(*) FROM users")).scalar()


def _check_outcome(factory: sessionmaker[Session], sent: int) -> None:
    with factory() as session:
        pending = session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.status != "sent"))
    if pending:
        raise SystemExit(f"bench: {pending} cards were not delivered")


def plans(template: Path) -> list[str]:
    """SQLite's plan for each check's query: they must search an index, never scan a table."""
    engine: Engine = make_engine(f"sqlite:///{template}")
    now = "'2026-11-02 09:00:00'"
    queries = {
        "approval steps": f"SELECT id FROM approval_steps WHERE status = 'pending' AND next_check_at <= {now} "
                          "ORDER BY next_check_at, id LIMIT 200",
        "to-dos": f"SELECT id FROM todos WHERE status = 'open' AND next_check_at <= {now} "
                  "ORDER BY next_check_at, id LIMIT 200",
        "silent customers": "SELECT id FROM customers WHERE status = 'active' AND silence_level = 0 "
                            f"AND last_activity_at <= {now} ORDER BY last_activity_at, id LIMIT 200",
    }
    out = []
    with engine.connect() as conn:
        for name, sql in queries.items():
            detail = " / ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            out.append(f"  {name:17} {detail}")
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000, help="open rows of each kind in the small database")
    parser.add_argument("--large", type=int, default=100_000, help="open rows of each kind in the large database")
    parser.add_argument("--due", type=int, default=100, help="due rows of each kind in both")
    parser.add_argument("--repeat", type=int, default=3, help="ticks timed per database (best counts)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_tick_") as tmp:
        workdir = Path(tmp)
        results = {}
        for size in (args.small, args.large):
            template = workdir / f"open{size}.db"
            started = time.perf_counter()
            build(template, size, args.due)
            print(f"built {size:>7,} open approvals + to-dos + customers ({args.due} due each) "
                  f"in {time.perf_counter() - started:.1f} s")
            runs = [timed_tick(template, workdir, i) for i in range(args.repeat)]
            results[size] = runs
            if size == args.large:
                print("query plans (large database):", *plans(template), sep="\n")
    return report(results, args.small, args.large, args.due)


def report(results: dict[int, list[tuple[float, float, list[str], int]]], small: int, large: int, due: int) -> int:
    ok = True
    best = {}
    for size, runs in results.items():
        checks, total = min(r[0] for r in runs), min(r[1] for r in runs)
        actions, sent = len(runs[0][2]), runs[0][3]
        best[size] = (checks, total)
        print(f"{size:>7,} open, {due} due: checks {checks * 1000:7.1f} ms, tick with delivery {total * 1000:7.1f} ms "
              f"({actions} actions, {sent} cards; best of {len(runs)})")
        if actions != 3 * due:
            print(f"  expected {3 * due} actions (one per due approval, to-do and customer), got {actions}")
            ok = False
    ratio = best[large][1] / best[small][1]
    print(f"ratio large/small (tick with delivery): {ratio:.2f}  (checks only: {best[large][0] / best[small][0]:.2f}); "
          f"limit {MAX_RATIO:.1f}")
    if ratio > MAX_RATIO:
        print("FAIL: the tick's cost grows with what is open, not with what is due")
        ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
