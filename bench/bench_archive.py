"""Benchmark archive handling: 20,000 archived WeCom messages (200 customers, 10 % with a keyword) stored,
then handled end to end — on the timeline, scanned, risk cards in the outbox — on SQLite and PostgreSQL.

Run from the repository root: ``python bench/bench_archive.py [--messages N] [--customers C]
[--pg URL | --no-pg]``. PostgreSQL is a throwaway cluster started like bench_wecom_ingest.py's (fsync
on) unless --pg names one (its tables are wiped). The import is what `salesbot archive import` does:
ingest() in batches of 500, then handle_all(). Target: >= 2,000 handled messages a second. Exits 1 if
missed or if a message was left unhandled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2000.0
WORDS = ["好的，我们内部再讨论一下", "下周安排一次技术交流", "合同条款我们法务在看", "发票请开到新的抬头",
         "样品已经收到了，谢谢", "价格方面还能再谈谈吗", "项目预算下个月批下来", "麻烦把资料再发一份"]
KEYWORD_WORDS = ["友商的报价比你们便宜两成", "我们在考虑换供应商", "能不能再打个折扣"]

CONFIG = """
[database]
url = "{url}"

[[users]]
id = "zhangsan"
name = "张三"
role = "rep"
wecom_userid = "zhangsan"
"""


def archive_lines(n: int, customers: int) -> list[dict]:
    start = int(datetime(2026, 11, 2, 1, 0, tzinfo=UTC).timestamp() * 1000)
    out = []
    for i in range(n):
        external = f"wmBENCH{i % customers:025d}"
        text = KEYWORD_WORDS[i % 3] if i % 10 == 0 else WORDS[i % len(WORDS)]
        mine = i % 4 == 3  # a quarter are the rep's own words
        out.append({"msgid": f"bench-{i}", "action": "send", "from": "zhangsan" if mine else external,
                    "tolist": [external if mine else "zhangsan"], "roomid": "", "msgtime": start + i * 1000,
                    "msgtype": "text", "text": {"content": text}})
    return out


def run(url: str, lines: list[dict], customers: int, tmp: Path) -> tuple[float, float, int, int, int]:
    from sqlalchemy import func, select, text

    from bot.config import load_settings
    from bot.runtime import open_runtime, sync_directory
    from bot.wecom_archive import decode_archive_message
    from handlers.archive import IngestReport, ingest
    from handlers.scanning import warm_up
    from scheduler.inbound import handle_all
    from storage import customers as repo
    from storage.db import transaction
    from storage.models import Base, InboundItem, OutboxItem

    config = tmp / f"bench-{abs(hash(url))}.toml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    settings = load_settings(str(config), environ={})
    rules = load_settings(None, environ={}).rules  # the embedded default rules
    settings = replace(settings, rules=rules)
    with open_runtime(settings, migrate=True) as runtime:
        if runtime.engine.dialect.name == "postgresql":
            with runtime.engine.begin() as conn:
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables)
                                  + " RESTART IDENTITY CASCADE"))
        sync_directory(runtime)
        now = datetime.now(UTC)
        with transaction(runtime.factory) as s:
            for c in range(customers):
                customer = repo.create(s, f"基准客户{c:03d}有限公司", "zhangsan", now - timedelta(days=1), "bench")
                repo.add_identity(s, customer, "wecom", f"wmBENCH{c:025d}", f"联系人{c}")
        warm_up(settings)
        report = IngestReport()
        archived = [m for m in map(decode_archive_message, lines) if m is not None]
        started = time.perf_counter()
        for i in range(0, len(lines), 500):
            with transaction(runtime.factory) as s:
                ingest(s, "wecom", archived[i:i + 500], now, report)
        stored_at = time.perf_counter()
        handled = handle_all(runtime.factory, settings, lambda: datetime.now(UTC), "bench")
        done_at = time.perf_counter()
        with runtime.factory() as s:
            pending = s.scalar(select(func.count(InboundItem.id)).where(InboundItem.status != "done")) or 0
            cards = s.scalar(select(func.count(OutboxItem.id))) or 0
    return stored_at - started, done_at - started, handled, int(pending), int(cards)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_wecom_ingest import Postgres, durability

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL URL (its tables are wiped) instead of a throwaway cluster")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    lines = archive_lines(args.messages, args.customers)
    ok = True
    print(f"archive handling benchmark — {args.messages} messages, {args.customers} customers, "
          f"10 % with a keyword; stored with ingest() in batches of 500, then handle_all()")
    print(f"{'database':<12} {'durability':<40} {'store s':>8} {'total s':>8} {'handled/s':>10} {'cards':>7}")
    with tempfile.TemporaryDirectory(prefix="salesbot-bench-") as tmpdir:
        tmp = Path(tmpdir)
        urls = [("SQLite", f"sqlite:///{tmp / 'salesbot.db'}")]
        pg = None
        if not args.no_pg:
            if args.pg:
                urls.append(("PostgreSQL", args.pg))
            else:
                pg = Postgres(tmp)
                urls.append(("PostgreSQL", pg.start()))
        try:
            for name, url in urls:
                store_s, total_s, handled, pending, cards = run(url, lines, args.customers, tmp)
                rate = handled / total_s
                good = rate >= TARGET and pending == 0 and handled == args.messages
                ok &= good
                print(f"{name:<12} {durability(url):<40} {store_s:>8.2f} {total_s:>8.2f} {rate:>10.0f} {cards:>7}"
                      f"  {'ok' if good else 'MISSED'}{f' ({pending} left unhandled)' if pending else ''}")
        finally:
            if pg is not None:
                pg.stop()
    print(f"(target: >= {TARGET:.0f} handled messages a second, end to end, every message handled)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
