"""Benchmark the board's 商机漏斗 and 线索 pages and the lead and opportunity metrics on SQLite.

Run from the repository root: ``python bench/bench_board_deals.py [--opportunities N] [--leads N]
[--reps N] [--requests R]``. Builds a SQLite file with bulk inserts (default 20,000 opportunities and
20,000 leads over twelve weeks, 500 reps under 50 managers and a director, each opportunity's stage
moves and each lead's assignments in the audit log as salesbot writes them), then opens each page
`requests` times as the director and as one manager and prints its p95 (target < 300 ms), and times
the lead and opportunity metrics of one company week (the part they add to the weekly report).
Exits with status 1 when a page misses its target.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_board import FRIDAY, PAGE_P95_MS, WEEKS, bench_settings, bulk, org, p95
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.runtime import Runtime, SettingsHolder
from handlers.health import metrics as m
from handlers.health.links import login_link
from handlers.health.weeks import week_of
from handlers.settings import DEFAULT_STAGES
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import AuditEntry, Customer, Lead, Opportunity, User

OPEN_STAGES = [s.name for s in DEFAULT_STAGES if not s.outcome]
BASE = "https://bench.example"
KEYS = ("lead_first_contact_share", "lead_first_contact_median_hours", "penetration_first_contact",
        "proposal_cycle_median_days", "penetration_stage_dwell")


def _audit(at: datetime, actor: str, entity: str, entity_id: int, field: str, before: Any, after: Any,
           note: str | None = None) -> dict[str, Any]:
    return {"at": at, "actor": actor, "entity": entity, "entity_id": str(entity_id), "field": field,
            "before": before, "after": after, "note": note}


def build(path: Path, opportunities: int, leads: int, reps: int, seed: int = 11) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    users = org(reps)
    bulk(engine, User, iter(users))
    rep_ids, rnd = [u["id"] for u in users if u["role"] == "rep"], random.Random(seed)
    start, span = FRIDAY - timedelta(weeks=WEEKS), timedelta(weeks=WEEKS).total_seconds()
    customers = opportunities + leads
    bulk(engine, Customer, ({"id": i + 1, "name": f"客户{i}", "owner_id": rep_ids[i % len(rep_ids)], "stage": "lead",
                             "status": "active", "created_at": start, "updated_at": start, "last_activity_at": start,
                             "silence_level": 0} for i in range(customers)))
    opps, audit = [], []
    for i in range(opportunities):
        at = start + timedelta(seconds=rnd.random() * span)
        owner, stage = rep_ids[i % len(rep_ids)], 0
        opps.append({"id": i + 1, "customer_id": i + 1, "name": f"商机{i}", "amount": Decimal(rnd.randint(1, 99) * 10000),
                     "owner_id": owner, "stage": OPEN_STAGES[0], "status": "open", "entered_stage_at": at,
                     "flag_level": 0, "created_at": at, "updated_at": at})
        audit.append(_audit(at, owner, "opportunity", i + 1, "created", None, f"商机{i} · {OPEN_STAGES[0]}"))
        while stage < len(OPEN_STAGES) - 1 and rnd.random() < 0.6:
            at += timedelta(days=rnd.choice((2, 5, 9, 16, 30)))
            if at > FRIDAY:
                break
            audit.append(_audit(at, owner, "opportunity", i + 1, "stage", OPEN_STAGES[stage], OPEN_STAGES[stage + 1]))
            stage += 1
            opps[-1].update(stage=OPEN_STAGES[stage], entered_stage_at=at, updated_at=at)
    rows = []
    for i in range(leads):
        at = start + timedelta(seconds=rnd.random() * span)
        owner = rep_ids[(i * 7) % len(rep_ids)]
        contacted = at + timedelta(hours=rnd.choice((1, 3, 8, 20, 30))) if i % 5 else None
        status = "assigned" if contacted is None or contacted > FRIDAY else "contacted"
        rows.append({"id": i + 1, "source": "web", "company": f"线索公司{i}", "company_key": f"线索公司{i}",
                     "company_prefix": "线索", "status": status, "owner_id": owner,
                     "customer_id": opportunities + i + 1, "reason": {}, "created_at": at, "assigned_at": at,
                     "contacted_at": contacted if status == "contacted" else None, "stale": False, "sla_level": 0})
        audit.append(_audit(at, "api:web", "lead", i + 1, "status", "new", "assigned"))
        audit.append(_audit(at, "api:web", "lead", i + 1, "owner_id", None, owner))
        if status == "contacted" and contacted is not None:
            audit.append(_audit(contacted, owner, "lead", i + 1, "status", "assigned", "contacted"))
    bulk(engine, Opportunity, iter(opps))
    bulk(engine, Lead, iter(rows))
    bulk(engine, AuditEntry, iter(audit))
    return engine


def _client(app: Any, viewer: str) -> Any:
    """A test client logged in as `viewer` through a board link."""
    client = app.test_client()
    link = login_link(viewer, FRIDAY)
    assert link is not None and client.get(link[len(BASE):], base_url=BASE).status_code == 302
    return client


def _ms(client: Any, page: str) -> float:
    t0 = time.perf_counter()
    status = client.get(page, base_url=BASE).status_code
    assert status == 200, (page, status)
    return (time.perf_counter() - t0) * 1000


def time_pages(engine: Engine, factory: sessionmaker[Session], settings: Any, requests: int) -> dict[str, float]:
    """p95 per page, as the director (the whole company, and one team) and as a manager."""
    app = create_app(runtime=Runtime(SettingsHolder(settings), engine, factory), clock=lambda: FRIDAY)
    pages = {"boss": ["/board/deals", f"/board/deals?stage={OPEN_STAGES[1]}", "/board/deals/O1", "/board/leads",
                      "/board/deals?team=m1"],
             "m1": ["/board/deals", f"/board/deals?stage={OPEN_STAGES[1]}", "/board/deals/O2", "/board/leads"]}
    _ms(_client(app, "boss"), pages["boss"][0])  # compile the templates once, outside the samples
    return {f"{viewer} {page}": p95([_ms(client, page) for _ in range(requests)])
            for viewer, client in ((v, _client(app, v)) for v in pages) for page in pages[viewer]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opportunities", type=int, default=20_000)
    ap.add_argument("--leads", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--requests", type=int, default=20, help="requests per page")
    args = ap.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(prefix="salesbot-bench-deals-") as tmp:
        path = Path(tmp) / "deals.db"
        t0 = time.perf_counter()
        engine = build(path, args.opportunities, args.leads, args.reps)
        print(f"built {path.name}: {args.opportunities} opportunities, {args.leads} leads in "
              f"{time.perf_counter() - t0:.1f} s")
        settings = bench_settings(f"sqlite:///{path}")
        factory = make_session_factory(engine)
        with factory() as s:
            query = m.Query(s, None, week_of(FRIDAY, FRIDAY), settings)
            t0 = time.perf_counter()
            samples = m.compute_all(query, (*KEYS, "pei"))
            spent = time.perf_counter() - t0
        figures = {f.metric.key: f.text for f in m.figures(samples, None, settings) if f.metric.key in samples}
        print(f"lead and opportunity metrics + PEI, company week: {spent:.2f} s  {figures}")
        for page, ms in time_pages(engine, factory, settings, args.requests).items():
            flag = "" if ms < PAGE_P95_MS else "  <-- over 300 ms"
            failed |= ms >= PAGE_P95_MS
            print(f"p95 {ms:7.1f} ms  {page}{flag}")
        engine.dispose()
    print("FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
