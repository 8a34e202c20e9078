"""Benchmark WeCom ingest: encrypted text messages POSTed to /wecom/callback against a bare Flask endpoint.

Run from the repository root: ``python bench/bench_wecom_ingest.py [--seconds S] [--processes P]
[--threads T] [--rate R] [--rate-seconds S]``.

One server process serves both apps with the same WSGI server `salesbot serve` uses (werkzeug, threaded,
HTTP/1.1 keep-alive) on two loopback ports: salesbot's app on the embedded default database (a SQLite
file, WAL), and a bare Flask app whose endpoint only answers 200. The same load generator (P processes
x T threads, raw keep-alive sockets) drives each in turn:

1. saturation for S seconds: every client sends as fast as it gets answers — requests/s, p50, p99;
2. a fixed 200 requests/s for S seconds (open loop; latency counted from the scheduled send time, so a
   stall is not hidden) — p50, p99.

Every ingest request is a fresh WeCom text message (unique MsgId), really AES-encrypted and signed.
Afterwards the benchmark checks that every acknowledged message is stored in the inbound table. Targets:
ingest >= 0.5 x the bare endpoint's throughput, ingest p99 < 100 ms at 200 requests/s. Exits with
status 1 if a target is missed or a message was acknowledged without being stored. Runtime: about
4 x S + 10 seconds.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
AGENT_ID = 218
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
CONTENT = "客户说友商的报价比我们便宜两成，下周要定供应商"  # a typical note, scanned later by the job


def config_text(db_path: Path) -> str:
    return f"""
[database]
url = "sqlite:///{db_path}"

[wecom]
corp_id = "{CORP_ID}"
agent_id = {AGENT_ID}
secret = "bench-secret"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
api_base = "http://127.0.0.1:9/cgi-bin/"

[[users]]
id = "zhangsan"
name = "张三"
wecom_userid = "zhangsan"
"""


# ---------------------------------------------------------------------------------------------- server


def serve(config_path: str, conn: multiprocessing.connection.Connection) -> None:
    """The server process: salesbot's app and a bare Flask app, each on a threaded werkzeug server."""
    from flask import Flask, Response
    from werkzeug.serving import make_server

    from bot.app import create_app
    from bot.config import load_settings
    from bot.runtime import open_runtime, sync_directory

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request access log on either server
    runtime = open_runtime(load_settings(config_path, environ={}))
    sync_directory(runtime)
    salesbot = create_app(runtime=runtime)
    bare = Flask("bare")
    bare.add_url_rule("/", "bare", lambda: Response(status=200), methods=["POST"])
    servers = [make_server("127.0.0.1", 0, app, threaded=True) for app in (salesbot, bare)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send([s.port for s in servers])
    conn.recv()  # any message: stop
    for server in servers:
        server.shutdown()


# ---------------------------------------------------------------------------------------------- client


class Connection:
    """A minimal keep-alive HTTP/1.1 client over a raw socket: little client CPU per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def post(self, target: str, body: bytes) -> int:
        head = (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        header, _, rest = buf.partition(b"\r\n\r\n")
        length, close = 0, False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            rest += self.sock.recv(65536)
        if close:
            self.sock.close()
            self.sock = self._connect()
        return int(header[9:12])


@dataclass
class Load:
    port: int
    ingest: bool
    threads: int
    start_at: float
    seconds: float
    rate: float | None  # None: closed loop (saturation); else requests/s over all processes
    process_index: int
    processes: int
    msg_base: int


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    ok: int = 0
    errors: int = 0


class Bodies:
    """Really encrypted, signed WeCom text messages with unique MsgIds."""

    def __init__(self, base: int) -> None:
        from bot.wecom_crypto import WeComCrypto

        self.crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
        self.next_id = base
        self.lock = threading.Lock()

    def make(self) -> tuple[str, bytes]:
        with self.lock:
            self.next_id += 1
            msg_id = self.next_id
        now = int(time.time())
        xml = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>"
               f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{CONTENT}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>")
        nonce = str(msg_id)
        body = self.crypto.seal(xml, str(now), nonce, AGENT_ID)
        query = urlencode({"msg_signature": self.crypto.sign_body(body, str(now), nonce), "timestamp": now,
                           "nonce": nonce})
        return f"/wecom/callback?{query}", body


def run_load(load: Load) -> Result:
    """One load-generator process: `threads` keep-alive clients, closed loop or a share of a fixed rate."""
    bodies = Bodies(load.msg_base) if load.ingest else None
    # Prepare requests before the clock starts: body encryption is client work, not the server's.
    expected = int(load.seconds * (load.rate or 4000) / load.processes) + 100
    prepared = [bodies.make() for _ in range(expected)] if bodies else []
    results = [Result() for _ in range(load.threads)]
    threads = [threading.Thread(target=_client, args=(load, bodies, prepared, t, results[t]))
               for t in range(load.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Result()
    for r in results:
        total.latencies += r.latencies
        total.ok += r.ok
        total.errors += r.errors
    return total


def _client(load: Load, bodies: Bodies | None, prepared: list[tuple[str, bytes]], index: int, out: Result) -> None:
    conn = Connection(load.port)
    while time.time() < load.start_at:
        time.sleep(0.001)
    end = load.start_at + load.seconds
    slot = load.process_index * load.threads + index
    stride = load.processes * load.threads
    n = 0
    while True:
        if load.rate:
            due = load.start_at + (slot + n * stride) / load.rate
            if due >= end:
                break
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            started = due  # open loop: count from the scheduled time
        else:
            started = time.time()
            if started >= end:
                break
            due = started
        target, body = (prepared.pop() if prepared else bodies.make()) if bodies else ("/", b"<xml/>")
        if not load.rate:
            started = time.time()
        try:
            status = conn.post(target, body)
        except OSError:
            out.errors += 1
            conn = Connection(load.port)
            n += 1
            continue
        out.latencies.append(time.time() - started)
        if status == 200:
            out.ok += 1
        else:
            out.errors += 1
        n += 1


# ---------------------------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    ok: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


class Bench:
    def __init__(self, pool: ProcessPoolExecutor, processes: int, threads: int) -> None:
        self.pool, self.processes, self.threads = pool, processes, threads
        self.msg_base = 10_000_000
        self.acknowledged = 0

    def phase(self, name: str, port: int, ingest: bool, seconds: float, rate: float | None = None) -> Phase:
        start_at = time.time() + 1.5  # every process has prepared its requests by then
        loads = [Load(port, ingest, self.threads, start_at, seconds, rate, i, self.processes,
                      self.msg_base + i * 1_000_000) for i in range(self.processes)]
        self.msg_base += 100_000_000
        results = list(self.pool.map(run_load, loads))
        phase = Phase(name, sum(r.ok for r in results), sum(r.errors for r in results), seconds,
                      [x for r in results for x in r.latencies])
        if ingest:
            self.acknowledged += phase.ok
        return phase


def stored_rows(db_path: Path) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundItem

    engine = make_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        count = conn.execute(select(func.count(InboundItem.id))).scalar_one()
    engine.dispose()
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each saturation phase")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=4, help="keep-alive clients per load process")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate phase")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="length of each fixed-rate phase")
    args = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="salesbot-bench-") as tmp:
        db_path = Path(tmp) / "salesbot.db"
        config = Path(tmp) / "config.toml"
        config.write_text(config_text(db_path), encoding="utf-8")
        parent, child = ctx.Pipe()
        server = ctx.Process(target=serve, args=(str(config), child), daemon=True)
        server.start()
        ingest_port, bare_port = parent.recv()
        try:
            with ProcessPoolExecutor(args.processes, mp_context=ctx) as pool:
                bench = Bench(pool, args.processes, args.threads)
                bench.phase("warm-up bare", bare_port, False, 1.0)
                bench.phase("warm-up ingest", ingest_port, True, 1.0)
                bare = bench.phase("bare Flask endpoint", bare_port, False, args.seconds)
                ingest = bench.phase("/wecom/callback", ingest_port, True, args.seconds)
                bare_rate = bench.phase("bare Flask endpoint", bare_port, False, args.rate_seconds, args.rate)
                ingest_rate = bench.phase("/wecom/callback", ingest_port, True, args.rate_seconds, args.rate)
        finally:
            parent.send("stop")
            server.join(timeout=10)
        rows = stored_rows(db_path)
    return report(args, bare, ingest, bare_rate, ingest_rate, rows, bench.acknowledged)


def report(args: argparse.Namespace, bare: Phase, ingest: Phase, bare_rate: Phase, ingest_rate: Phase,
           rows: int, acknowledged: int) -> int:
    ratio = ingest.rps / bare.rps if bare.rps else 0.0
    ok_ratio = ratio >= TARGET_RATIO
    ok_p99 = ingest_rate.pct(0.99) < TARGET_P99_MS
    ok_rows = rows == acknowledged
    clients = args.processes * args.threads
    print(f"WeCom ingest benchmark — SQLite (WAL) embedded default, werkzeug threaded server, "
          f"{clients} keep-alive clients ({args.processes} processes x {args.threads} threads) over loopback, "
          f"{os.cpu_count()} CPUs")
    print()
    print(f"saturation, {args.seconds:g} s each      requests/s   p50 ms   p99 ms   errors")
    for p in (bare, ingest):
        print(f"  {p.name:<32} {p.rps:>10.0f} {p.p50:>8.2f} {p.pct(0.99):>8.2f} {p.errors:>8}")
    print(f"  ratio ingest / bare              {ratio:>10.2f}   (target >= {TARGET_RATIO})"
          f"  {'ok' if ok_ratio else 'MISSED'}")
    print()
    print(f"fixed {args.rate:g} requests/s, {args.rate_seconds:g} s    sent   p50 ms   p99 ms   errors")
    for p in (bare_rate, ingest_rate):
        print(f"  {p.name:<32} {p.ok + p.errors:>6} {p.p50:>8.2f} {p.pct(0.99):>8.2f} {p.errors:>8}")
    print(f"  ingest p99 {ingest_rate.pct(0.99):.2f} ms   (target < {TARGET_P99_MS:g} ms)  {'ok' if ok_p99 else 'MISSED'}")
    print()
    print(f"stored before acknowledged: {acknowledged} messages answered 200, {rows} rows in the inbound table"
          f"  {'ok' if ok_rows else 'MISMATCH'}")
    return 0 if ok_ratio and ok_p99 and ok_rows else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
