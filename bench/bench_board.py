"""Benchmark the board and the weekly report at company size on SQLite.

Run from the repository root: ``python bench/bench_board.py [--customers N] [--messages N] [--reps N]
[--events N] [--opportunities N] [--requests R] [--db DIR]``. Builds a SQLite file with bulk inserts
(default 100,000 customers, 1,000,000 messages, 500 reps under 50 managers and a director, 20,000
opportunities with their stage moves in the audit log, and `events` approvals with their steps, to-dos
and risks spread over twelve weeks); with `--db DIR` the files are kept in DIR and reused by the next
run with the same sizes (seeding is most of a run's time). Then:

- runs the tick's weekly-snapshot check (the backfill of the ended weeks the 健康度 trend reads; the
  snapshots are cleared first, so every run measures it);

- opens every board page `requests` times as the director (the whole company) and as one manager,
  and prints each page's p95 (target < 300 ms) with the p95 of its CPU time beside it (on a shared
  machine the wall time includes waiting for a CPU);
- builds the weekly report for the whole company and runs the Friday tick that sends every manager
  theirs (target < 10 s);
- builds a second database with twice the events and compares the company report's time (target: no
  more than 2.2 times; the CPU time's ratio is printed beside it).

Exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.config import Settings, settings_from_mapping
from bot.runtime import Runtime, SettingsHolder
from handlers.context import Context
from handlers.health import snapshots, weekly
from handlers.health.links import login_link
from handlers.health.weeks import week_of
from storage import snapshots as snapshots_repo
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.models import (
    Approval,
    ApprovalStep,
    AuditEntry,
    Customer,
    Message,
    Opportunity,
    OutboxItem,
    ReportRun,
    RiskEvent,
    Todo,
    User,
)

FRIDAY = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)  # 17:00 China time, week 2026-W45
WEEKS = 12
CHUNK = 20_000
PAGE_P95_MS = 300.0
REPORT_S = 10.0
MAX_RATIO = 2.2


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk(engine: Engine, model: type, rows: Iterator[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        for batch in chunks(rows):
            conn.execute(insert(model), batch)


def org(reps: int) -> list[dict[str, Any]]:
    managers = max(1, reps // 10)
    users = [{"id": "boss", "name": "总监", "role": "director", "manager_id": None, "active": True}]
    users += [{"id": f"m{i}", "name": f"经理{i}", "role": "manager", "manager_id": "boss", "active": True}
              for i in range(managers)]
    users += [{"id": f"r{i}", "name": f"销售{i}", "role": "rep", "manager_id": f"m{i % managers}", "active": True}
              for i in range(reps)]
    return users


STAGES = ("需求确认", "方案提交", "方案确认", "价格谈判", "合同审批")


def opportunities(engine: Engine, count: int, rep_ids: list[str], customers: int, start: datetime,
                  rnd: random.Random) -> None:
    """`count` opportunities, each moved through some of the default stages (one audit row per move,
    as core.move_stage writes them); a quarter won or lost."""
    opps, moves = [], []
    for i in range(count):
        created = start + timedelta(days=rnd.random() * WEEKS * 7 * 0.8)
        at, stage = created, 0
        moves.append({"at": at, "actor": rep_ids[i % len(rep_ids)], "entity": "opportunity", "entity_id": str(i + 1),
                      "field": "created", "before": None, "after": f"商机{i} · {STAGES[0]}"})
        for _ in range(rnd.randrange(len(STAGES) + 1)):
            nxt = at + timedelta(hours=rnd.choice((20, 70, 200, 400)))
            if nxt > FRIDAY:
                break
            after = STAGES[stage + 1] if stage + 1 < len(STAGES) else rnd.choice(("赢单", "输单"))
            moves.append({"at": nxt, "actor": rep_ids[i % len(rep_ids)], "entity": "opportunity",
                          "entity_id": str(i + 1), "field": "stage", "before": STAGES[stage], "after": after})
            at = nxt
            if stage + 1 >= len(STAGES):
                stage = -1
                break
            stage += 1
        name = STAGES[stage] if stage >= 0 else moves[-1]["after"]
        status = "open" if stage >= 0 else ("won" if name == "赢单" else "lost")
        opps.append({"id": i + 1, "customer_id": i % customers + 1, "name": f"商机{i}", "amount": Decimal(200000),
                     "owner_id": rep_ids[i % len(rep_ids)], "stage": name, "status": status, "entered_stage_at": at,
                     "flag_level": 0, "created_at": created, "updated_at": at})
    bulk(engine, Opportunity, iter(opps))
    bulk(engine, AuditEntry, iter(moves))


def build(path: Path, customers: int, messages: int, reps: int, events: int, opps: int, seed: int = 7) -> Engine:
    rnd = random.Random(seed)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    users = org(reps)
    rep_ids = [u["id"] for u in users if u["role"] == "rep"]
    start = FRIDAY - timedelta(weeks=WEEKS)
    span = (FRIDAY - start).total_seconds()

    def at() -> datetime:
        return start + timedelta(seconds=rnd.random() * span)

    bulk(engine, User, iter(users))
    bulk(engine, Customer, ({"id": i + 1, "name": f"客户{i}", "owner_id": rep_ids[i % len(rep_ids)],
                             "stage": "lead", "status": "active", "created_at": start, "updated_at": start,
                             "last_activity_at": at(), "silence_level": 0} for i in range(customers)))
    bulk(engine, Message, ({"platform": "wecom", "platform_msg_id": f"m{i}", "source": "archive",
                            "customer_id": i % customers + 1, "sender": "c", "from_customer": True,
                            "text": "你好，报价什么时候出", "sent_at": at()} for i in range(messages)))
    approvals, steps = [], []
    for i in range(events):
        created = at()
        hold = timedelta(hours=rnd.choice((2, 10, 30, 80, 150)))
        decided = created + hold
        open_ = decided > FRIDAY
        rep = rep_ids[i % len(rep_ids)]
        approvals.append({"id": i + 1, "kind": "quote", "customer_id": i % customers + 1, "submitter_id": rep,
                          "amount": Decimal(100000), "note": "" if i % 7 == 0 else "标准报价",
                          "status": "pending" if open_ else ("rejected" if i % 9 == 0 else "approved"),
                          "version": 1, "current_position": 0, "times_returned": 0, "created_at": created,
                          "decided_at": None if open_ else decided})
        steps.append({"approval_id": i + 1, "position": 0, "approver_spec": "manager",
                      "approver_id": f"m{(i % len(rep_ids)) % max(1, reps // 10)}",
                      "status": "pending" if open_ else "approved", "sla_hours": 24, "started_at": created,
                      "decided_at": None if open_ else decided, "escalation_level": 1 if hold.days >= 2 else 0})
    bulk(engine, Approval, iter(approvals))
    bulk(engine, ApprovalStep, iter(steps))
    bulk(engine, Todo, ({"owner_id": rep_ids[i % len(rep_ids)], "customer_id": i % customers + 1,
                         "title": "回访客户", "status": "done" if i % 3 else "open", "created_at": (c := at()),
                         "due_at": c + timedelta(days=1), "done_at": c + timedelta(hours=20) if i % 3 else None,
                         "escalation_level": 0} for i in range(events * 2)))
    bulk(engine, RiskEvent, ({"customer_id": i % customers + 1, "rule": "competitor", "label": "竞品威胁",
                              "severity": ("high", "medium", "low")[i % 3], "keyword": "友商", "text": "友商更便宜",
                              "status": "open" if i % 2 else "closed", "created_at": (c := at()), "last_hit_at": c}
                             for i in range(events // 2)))
    opportunities(engine, opps, rep_ids, customers, start, rnd)
    return engine


def database(folder: Path, factor: int, sizes: dict[str, int]) -> Engine:
    """The seeded database for `factor` times the events: reused from `folder` when it was built with the
    same sizes (a `.json` beside it records them), else built there."""
    path, marker = folder / f"board{factor}.db", folder / f"board{factor}.json"
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == sizes:
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)  # a migration added since it was built
        print(f"reusing {path}")
        return engine
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    engine = build(path, sizes["customers"], sizes["messages"], sizes["reps"], sizes["events"], sizes["opportunities"])
    marker.write_text(json.dumps(sizes))
    print(f"built {path.name}: {sizes['events']} approvals in {time.perf_counter() - t0:.1f} s")
    return engine


def bench_settings(url: str) -> Settings:
    return settings_from_mapping({"database": {"url": url}, "server": {"public_url": "https://bench.example"}},
                                 "bench")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def time_pages(engine: Engine, factory: sessionmaker[Session], settings: Settings,
               requests: int) -> dict[str, tuple[float, float, float]]:
    """Each page's p95 in ms: wall time (the target) and this process's CPU time (what the page costs
    without the waits for a CPU other processes hold, on a shared machine); and the median wall time."""
    runtime = Runtime(SettingsHolder(settings), engine, factory)
    app = create_app(runtime=runtime, clock=lambda: FRIDAY)
    results: dict[str, tuple[float, float, float]] = {}
    for viewer, pages in (("boss", ["/board/", "/board/todos", "/board/risks", "/board/health",
                                    "/board/health/team/m1", "/board/health/rep/r1", "/board/approvals/A2"]),
                          ("m1", ["/board/", "/board/todos", "/board/risks", "/board/health/team/m1"])):
        client = app.test_client()
        link = login_link(viewer, FRIDAY)
        assert link is not None
        assert client.get(link[len("https://bench.example"):], base_url="https://bench.example").status_code == 302
        for page in pages:
            wall, cpu = [], []
            for _ in range(requests):
                t0, c0 = time.perf_counter(), time.process_time()
                answer = client.get(page, base_url="https://bench.example")
                wall.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                assert answer.status_code == 200, (page, answer.status_code)
            results[f"{viewer} {page}"] = (p95(wall), p95(cpu), statistics.median(wall))
    return results


def time_report(factory: sessionmaker[Session], settings: Settings) -> tuple[float, float]:
    """The company's weekly report: (wall, CPU) seconds."""
    with factory() as s:
        t0, c0 = time.perf_counter(), time.process_time()
        weekly.build(s, settings, None, week_of(FRIDAY, FRIDAY))
        return time.perf_counter() - t0, time.process_time() - c0


def time_snapshots(factory: sessionmaker[Session], settings: Settings) -> tuple[float, int]:
    """The tick's snapshot check from an empty snapshot table, as on the first tick after an upgrade."""
    with transaction(factory) as s:
        snapshots_repo.clear(s)
    t0 = time.perf_counter()
    with transaction(factory) as s:
        saved = snapshots.save_snapshots(Context(s, settings, FRIDAY))
    return time.perf_counter() - t0, len(saved)


def time_tick(factory: sessionmaker[Session], settings: Settings) -> tuple[float, int]:
    with transaction(factory) as s:  # a reused database holds the reports an earlier run sent
        s.execute(delete(ReportRun))
        s.execute(delete(OutboxItem).where(OutboxItem.dedupe_key.like("report:%")))
    t0 = time.perf_counter()
    with transaction(factory) as s:
        sent = weekly.send_weekly_reports(Context(s, settings, FRIDAY))
    return time.perf_counter() - t0, len(sent)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--events", type=int, default=20_000, help="approvals over twelve weeks (to-dos 2x, risks 0.5x)")
    ap.add_argument("--opportunities", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=20, help="requests per page")
    ap.add_argument("--db", type=Path, help="keep the seeded databases in this folder and reuse them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="salesbot-bench-board-") as tmp:
        folder: Path = args.db or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        return run(folder, args)


def run(folder: Path, args: argparse.Namespace) -> int:
    failed = False
    times: dict[int, tuple[float, float]] = {}
    for factor in (1, 2):
        sizes = {"customers": args.customers, "messages": args.messages if factor == 1 else 0, "reps": args.reps,
                 "events": args.events * factor, "opportunities": args.opportunities}
        engine = database(folder, factor, sizes)
        settings = bench_settings(f"sqlite:///{folder / f'board{factor}.db'}")
        factory = make_session_factory(engine)
        time_report(factory, settings)  # warm the caches once
        runs = [time_report(factory, settings) for _ in range(3)]
        times[factor] = (min(wall for wall, _ in runs), min(cpu for _, cpu in runs))
        print(f"company weekly report ({factor}x events): {times[factor][0]:.2f} s (cpu {times[factor][1]:.2f} s)")
        if factor == 1:
            backfill, saved = time_snapshots(factory, settings)
            print(f"weekly snapshots, backfill from none: {saved} weeks in {backfill:.2f} s")
            for page, (ms, cpu, median) in time_pages(engine, factory, settings, args.requests).items():
                flag = "" if ms < PAGE_P95_MS else "  <-- over 300 ms"
                failed |= ms >= PAGE_P95_MS
                print(f"p95 {ms:7.1f} ms (cpu {cpu:6.1f} ms, median {median:6.1f} ms)  {page}{flag}")
            tick, sent = time_tick(factory, settings)
            print(f"Friday tick, one report per manager: {sent} reports in {tick:.2f} s")
            failed |= tick >= REPORT_S or times[1][0] >= REPORT_S
        engine.dispose()
    wall, cpu = times[2][0] / times[1][0], times[2][1] / times[1][1]
    print(f"2x events -> {wall:.2f}x report time (limit {MAX_RATIO}); CPU time {cpu:.2f}x")
    failed |= wall > MAX_RATIO
    print("FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
