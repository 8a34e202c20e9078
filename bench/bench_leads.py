"""Benchmark lead assignment: its cost must not follow how many leads are open.

Run from the repository root:
``python bench/bench_leads.py [--url URL] [--reps 500] [--small 1000] [--large 100000] [--assign 200]``.
Builds two databases (SQLite files, or the PostgreSQL database at --url, wiped) with `reps` eligible
reps and `small` / `large` open leads (each with its customer, spread over the reps, the counters
filled as salesbot keeps them), then takes `assign` new leads one by one through the whole intake —
duplicate check, near-match check, scoring of every eligible rep, assignment, the rep's card — each in
its own transaction, and reports leads per second. Exits with status 1 if a lead costs more than twice
as much with `large` open leads as with `small`, or if a lead did not reach a rep.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from bot.config import Settings, settings_from_mapping
from handlers import outbox
from handlers.context import Context
from handlers.leads import LeadInput, take_lead
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.directory import sync_users
from storage.leads import company_key
from storage.models import Customer, Lead, LeadLoad

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MAX_RATIO = 2.0
CHUNK = 10_000
INDUSTRIES = ("K12", "制造", "医疗", "零售", "物流", "金融", "能源", "地产")
REGIONS = ("华东", "华南", "华北", "西部")


def company(i: int, salt: int) -> str:
    """Distinct, unlike names (no near matches between them): four CJK characters from i."""
    n = i * 2_654_435_761 + salt * 97
    return "".join(chr(0x4E00 + (n >> (k * 5)) % 20_000) for k in range(4)) + "有限公司"


def bench_settings(url: str, reps: int) -> Settings:
    users = [{"id": "boss", "name": "主管", "role": "manager"}]
    users += [{"id": f"r{i:04d}", "name": f"销售{i}", "role": "rep", "manager": "boss"} for i in range(reps)]
    rep_profiles = [{"id": f"r{i:04d}", "industries": [INDUSTRIES[i % len(INDUSTRIES)]], "region": REGIONS[i % 4]}
                    for i in range(reps)]
    return settings_from_mapping({
        "database": {"url": url}, "users": users,
        "leads": {"capacity": 1_000_000, "daily_cap": 1_000_000, "industry_daily_max": 1_000_000,
                  "match_region": False, "reps": rep_profiles},
    }, "bench")


def fresh_engine(url: str | None, tmp: Path, name: str) -> tuple[Engine, str]:
    if url is None:
        url = f"sqlite:///{tmp / name}.db"
        engine = make_engine(url)
    else:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    return engine, url


def populate(engine: Engine, settings: Settings, open_leads: int, reps: int) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        sync_users(s, settings.users, NOW)
    for start in range(0, open_leads, CHUNK):
        ids = range(start, min(start + CHUNK, open_leads))
        with engine.begin() as conn:
            conn.execute(insert(Customer), [
                dict(id=i + 1, name=company(i, 0), owner_id=f"r{i % reps:04d}", industry=INDUSTRIES[i % 8],
                     stage="lead", status="active", created_at=NOW - timedelta(hours=1), updated_at=NOW,
                     last_activity_at=NOW, silence_level=0) for i in ids])
            conn.execute(insert(Lead), [_lead(i, reps) for i in ids])
    with engine.begin() as conn:
        conn.execute(insert(LeadLoad), [dict(user_id=f"r{r:04d}", open_leads=open_leads // reps + (r < open_leads % reps),
                                              stale_leads=0) for r in range(reps)])
        if engine.dialect.name == "postgresql":
            for table in ("customers", "leads"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))


def _lead(i: int, reps: int) -> dict:
    name = company(i, 0)
    key = company_key(name)
    return dict(id=i + 1, source="bench", client_key=f"open-{i}", company=name, company_key=key,
                company_prefix=key[:2], contact="", phone=f"139{i:08d}", phone_key=f"139{i:08d}",
                industry=INDUSTRIES[i % 8], budget=None, urgency="", region=REGIONS[i % 4], notes="",
                status="assigned", owner_id=f"r{i % reps:04d}", customer_id=i + 1, reason={},
                created_at=NOW - timedelta(hours=1), assigned_at=NOW - timedelta(hours=1), contacted_at=None,
                closed_reason=None, stale=False, sla_level=0, next_check_at=NOW + timedelta(hours=23))


def run(engine: Engine, settings: Settings, count: int) -> float:
    """Seconds to take `count` new leads, one transaction each."""
    factory = make_session_factory(engine)
    started = time.perf_counter()
    for i in range(count):
        with transaction(factory) as s:
            ctx = Context(s, settings, NOW)
            intake = take_lead(ctx, LeadInput(source="bench", company=company(i, 7), phone=f"186{i:08d}",
                                              industry=INDUSTRIES[i % 8], client_key=f"new-{i}"), "bench")
            outbox.post(ctx, intake.cards)
            if intake.lead.status != "assigned":
                raise SystemExit(f"lead {i} was not assigned: {intake.lead.status} {intake.lead.reason.get('why')}")
    return time.perf_counter() - started


def measure(url: str | None, tmp: Path, reps: int, open_leads: int, count: int) -> float:
    engine, full_url = fresh_engine(url, tmp, f"leads{open_leads}")
    settings = bench_settings(full_url, reps)
    populate(engine, settings, open_leads, reps)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count(Lead.id))) == open_leads
    run(engine, settings, 5)  # warm caches and the statement cache
    seconds = run(engine, settings, count)
    engine.dispose()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="PostgreSQL URL to use (wiped!); default: SQLite files in a temp dir")
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--assign", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(args.url, Path(tmp), args.reps, args.small, args.assign)
        large = measure(args.url, Path(tmp), args.reps, args.large, args.assign)
    backend = "postgresql" if args.url else "sqlite"
    ratio = large / small
    print(f"{backend}: {args.reps} eligible reps; {args.assign} leads each")
    print(f"  {args.small:>7} open leads: {args.assign / small:8.1f} leads/s ({small / args.assign * 1000:.2f} ms each)")
    print(f"  {args.large:>7} open leads: {args.assign / large:8.1f} leads/s ({large / args.assign * 1000:.2f} ms each)")
    print(f"  ratio large/small: {ratio:.2f} (limit {MAX_RATIO})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
