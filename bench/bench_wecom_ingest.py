"""Benchmark WeCom ingest under gunicorn: encrypted messages POSTed to /wecom/callback on SQLite and on
PostgreSQL, side by side with a bare Flask endpoint under the same gunicorn settings.

Run from the repository root: ``python bench/bench_wecom_ingest.py [--seconds S] [--rounds N] [--rate R]
[--rate-seconds S] [--pg URL | --no-pg] [--workers W] [--threads T] [--python-load]``.

Three gunicorn servers start with the same settings, README's deployment (``-k gthread -w W --threads T``):
salesbot on a SQLite file (WAL, synchronous=NORMAL as shipped), salesbot on PostgreSQL (a throwaway
cluster this script starts with fsync and synchronous_commit on, unless --pg names one; its inbound
table is only counted, never wiped) and the bare endpoint (bench/bare_flask.py, which answers on the
same path, so all three get byte-identical kinds of requests).

1. saturation for S seconds, N rounds of bare, SQLite, PostgreSQL back to back (the ratios of a round
   are side by side): requests/s, p50, p99, ingest / bare, and the servers' own CPU per request (the
   gunicorn processes, plus the PostgreSQL backends for PostgreSQL) — on a shared machine the CPU per
   request is steadier than requests/s. The load is Debian's `wrk` (C, 1 thread, 32 keep-alive
   connections; a Lua script sends pre-built requests, each one once) if installed, else (or with
   --python-load) the Python generator below; the generator's own CPU is reported either way;
2. a fixed R requests/s (open loop, latency counted from the scheduled send time, the Python generator)
   — p50, p99.

Every ingest request is a distinct WeCom text message (unique MsgId), really AES-encrypted and signed,
built before the clock starts. Afterwards every acknowledged message must be a row in that database's
inbound table, and the rows show how the group commit batched them (rows of one commit share their
received_at). Targets: ingest >= 0.5 x bare on both databases (the median of the rounds), p99 < 100 ms
at 200 requests/s. Exits 1 if one is missed.
Runtime: about N x 3 x (S + 3) + 3 x rate-seconds + 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
AGENT_ID = 218
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
CONTENT = "客户说友商的报价比我们便宜两成，下周要定供应商"  # a typical note, scanned later by the job


def config_text(url: str) -> str:
    return f"""
[database]
url = "{url}"

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


# ---------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn(app: str, env: dict[str, str], workers: int, threads: int, log: Path) -> tuple[subprocess.Popen, int]:
    """Start gunicorn with README's deployment settings; returns it once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers), "--threads", str(threads),
           "-b", f"127.0.0.1:{port}", "--pythonpath", f"{ROOT},{ROOT / 'bench'}", app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn {app} exited; see {log}") from None
            time.sleep(0.2)
    raise SystemExit(f"gunicorn {app} did not answer /healthz; see {log}")


class Postgres:
    """A throwaway cluster with durability as shipped (fsync, synchronous_commit on)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql); or pass --pg URL / --no-pg")
        self.bin = bins[-1]
        self.port = free_port()

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:  # initdb refuses root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> str:
        self.dir.mkdir()
        if os.geteuid() == 0:
            self.dir.parent.chmod(0o755)  # the cluster's user must reach its directory
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        self._run(self.bin / "initdb", "-D", data, "-U", "salesbot", "--auth=trust", "-E", "UTF8")
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.dir / "server.log", "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=200", "start")
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "salesbot", "bench")
        return f"postgresql+psycopg://salesbot@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop")

    def pids(self) -> list[int]:
        """The postmaster and its backends (their CPU is part of storing on PostgreSQL)."""
        postmaster = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        return children(postmaster)


def durability(url: str) -> str:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            mode = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[conn.execute(text("PRAGMA synchronous")).scalar_one()]
            out = f"journal_mode=WAL synchronous={mode}"
        else:
            out = (f"fsync={conn.execute(text('SHOW fsync')).scalar_one()} "
                   f"synchronous_commit={conn.execute(text('SHOW synchronous_commit')).scalar_one()}")
    engine.dispose()
    return out


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
    expected = int(load.seconds * (load.rate or 3000) / load.processes) + 100
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


# ---------------------------------------------------------------------------------------------- wrk

WRK_SCRIPT = r"""
-- Each wrk thread sends its share of the pre-built requests, each one once; past the end it sends a
-- GET without a signature (answered 4xx, counted as an error: the bench says it ran out).
local threads, counter = {}, 0
function setup(thread)
  thread:set("tid", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  local f = assert(io.open(args[1], "rb")); local data = f:read("*a"); f:close()
  local nthreads = tonumber(args[2])
  reqs, n, ok, bad, pos, exhausted = {}, 0, 0, 0, 0, 0
  local i = 0
  for chunk in data:gmatch("(.-)%z\n") do
    if i % nthreads == tid then n = n + 1; reqs[n] = chunk end
    i = i + 1
  end
  spare = "GET /wecom/callback HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
end
function request()
  pos = pos + 1
  if pos > n then exhausted = exhausted + 1; return spare end
  return reqs[pos]
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local tok, tbad, tex = 0, 0, 0
  for _, t in ipairs(threads) do tok = tok + t:get("ok"); tbad = tbad + t:get("bad"); tex = tex + t:get("exhausted") end
  local e = summary.errors
  io.write(string.format("WRKJSON {\"ok\": %d, \"bad\": %d, \"exhausted\": %d, \"p50\": %f, \"p99\": %f, " ..
    "\"socket_errors\": %d}\n", tok, tbad, tex, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout))
end
"""


def write_requests(path: Path, count: int, msg_base: int) -> None:
    """`count` distinct signed messages as raw HTTP requests, NUL-newline separated (for WRK_SCRIPT)."""
    bodies = Bodies(msg_base)
    with path.open("wb") as out:
        for _ in range(count):
            target, body = bodies.make()
            head = (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n")
            out.write(head.encode() + body + b"\0\n")


@dataclass
class WrkRun:
    ok: int
    bad: int
    exhausted: int
    p50: float
    p99: float
    cpu: float  # seconds of the generator's own CPU


def run_wrk(port: int, requests: Path, script: Path, seconds: float, connections: int) -> WrkRun:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/", "--", str(requests), "1"],
                         check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line[len("WRKJSON "):])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkRun(data["ok"], data["bad"] + data["socket_errors"], data["exhausted"], data["p50"], data["p99"], cpu)


# ---------------------------------------------------------------------------------------------- CPU


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """pid and its child processes."""
    out = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return out


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
        self._counted = 0

    def acknowledged_since_reset(self) -> int:
        """Ingest requests answered 200 since the last call."""
        n, self._counted = self.acknowledged - self._counted, self.acknowledged
        return n

    def phase(self, name: str, port: int, ingest: bool, seconds: float, rate: float | None = None) -> Phase:
        start_at = time.time() + 1.5 + (seconds * 0.3 if ingest else 0)  # every process has built its requests
        loads = [Load(port, ingest, self.threads, start_at, seconds, rate, i, self.processes,
                      self.msg_base + i * 1_000_000) for i in range(self.processes)]
        self.msg_base += 100_000_000
        results = list(self.pool.map(run_load, loads))
        phase = Phase(name, sum(r.ok for r in results), sum(r.errors for r in results), seconds,
                      [x for r in results for x in r.latencies])
        if ingest:
            self.acknowledged += phase.ok
        return phase


def stored_rows(url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundItem

    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count(InboundItem.id))).scalar_one()
    engine.dispose()
    return int(count)


def last_id(url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundItem

    engine = make_engine(url)
    with engine.connect() as conn:
        top = conn.execute(select(func.max(InboundItem.id))).scalar_one()
    engine.dispose()
    return int(top or 0)


def batch_sizes(url: str, after_id: int, upto_id: int) -> list[int]:
    """Rows per commit among these rows: a group commit stamps its whole batch with one received_at."""
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboundItem

    engine = make_engine(url)
    with engine.connect() as conn:
        sizes = conn.execute(select(func.count(InboundItem.id))
                             .where(InboundItem.id > after_id, InboundItem.id <= upto_id)
                             .group_by(InboundItem.received_at)).scalars().all()
    engine.dispose()
    return [int(n) for n in sizes]


def prepare_database(url: str, tmp: Path, name: str) -> tuple[Path, int]:
    """Write its config, migrate it once (gunicorn workers never migrate PostgreSQL), count its rows."""
    from bot.config import load_settings
    from bot.runtime import open_runtime, sync_directory

    config = tmp / f"{name}.toml"
    config.write_text(config_text(url), encoding="utf-8")
    with open_runtime(load_settings(str(config), environ={}), migrate=True) as runtime:
        sync_directory(runtime)
    return config, stored_rows(url)


@dataclass
class Saturation:
    ok: int
    errors: int
    seconds: float
    p50: float
    p99: float
    server_cpu_us: float  # per acknowledged request
    generator_cpu: float  # seconds
    exhausted: int = 0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


@dataclass
class Target:
    name: str
    url: str | None
    proc: subprocess.Popen | None = None
    port: int = 0
    before: int = 0
    acknowledged: int = 0
    rounds: list[Saturation] = field(default_factory=list)
    fixed: Phase | None = None
    settings: str = ""
    pg: Postgres | None = None
    batches: list[int] = field(default_factory=list)
    fixed_batches: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return children(self.proc.pid) + (self.pg.pids() if self.pg is not None else [])


def saturate(t: Target, bench: Bench, args: argparse.Namespace, requests: Path | None, script: Path) -> Saturation:
    """One saturation phase against one server: wrk over pre-built requests, or the Python generator."""
    pids = t.pids()
    cpu = process_cpu(pids)
    if requests is not None:
        run = run_wrk(t.port, requests, script, args.seconds, args.connections)
        pids = sorted(set(pids) | set(t.pids()))
        used = process_cpu(pids) - cpu
        sat = Saturation(run.ok, run.bad, args.seconds, run.p50, run.p99, used / max(run.ok, 1) * 1e6, run.cpu,
                         run.exhausted)
    else:
        loaders = list(bench.pool._processes)  # type: ignore[attr-defined]  # the generator's processes
        gen = process_cpu(loaders)
        phase = bench.phase(t.name, t.port, t.url is not None, args.seconds)
        used = process_cpu(sorted(set(pids) | set(t.pids()))) - cpu
        sat = Saturation(phase.ok, phase.errors, args.seconds, phase.p50, phase.pct(0.99),
                         used / max(phase.ok, 1) * 1e6, process_cpu(loaders) - gen)
    return sat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each saturation phase")
    parser.add_argument("--rounds", type=int, default=3, help="saturation rounds (bare, SQLite, PostgreSQL each)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate phase")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="length of each fixed-rate phase")
    parser.add_argument("--processes", type=int, default=2, help="Python load-generator processes")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive clients per Python load process")
    parser.add_argument("--connections", type=int, default=32, help="wrk's keep-alive connections")
    parser.add_argument("--max-rate", type=float, default=5000.0,
                        help="requests/s the pre-built messages suffice for (wrk sends each once)")
    parser.add_argument("--python-load", action="store_true", help="saturate with the Python generator, not wrk")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (README: -w 2)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker (README: --threads 16)")
    parser.add_argument("--pg", help="a PostgreSQL URL to use instead of a throwaway cluster")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    use_wrk = not args.python_load and shutil.which("wrk") is not None

    ctx = multiprocessing.get_context("spawn")
    pg: Postgres | None = None
    with tempfile.TemporaryDirectory(prefix="salesbot-bench-") as tmpdir:
        tmp = Path(tmpdir)
        targets = [Target("bare Flask endpoint", None), Target("salesbot on SQLite", f"sqlite:///{tmp / 'salesbot.db'}")]
        if not args.no_pg:
            if args.pg:
                url = args.pg
            else:
                pg = Postgres(tmp)
                url = pg.start()
            targets.append(Target("salesbot on PostgreSQL", url, pg=pg))
        try:
            with ProcessPoolExecutor(args.processes, mp_context=ctx) as pool:
                files = build_requests(pool, tmp, targets, args) if use_wrk else {}
                start_servers(targets, tmp, args)
                run_phases(targets, Bench(pool, args.processes, args.clients), args, files, tmp)
        finally:
            for t in targets:
                if t.proc is not None:
                    t.proc.terminate()
            for t in targets:
                if t.proc is not None:
                    t.proc.wait(timeout=30)
        stored = {t.name: stored_rows(t.url) - t.before for t in targets if t.url}
        if pg is not None:
            pg.stop()
    return report(args, use_wrk, targets, stored)


def build_requests(pool: ProcessPoolExecutor, tmp: Path, targets: list[Target],
                   args: argparse.Namespace) -> dict[tuple[str, int], Path]:
    """The request files for wrk: one per ingest target and round (each message sent once), one for bare."""
    count = int(args.seconds * args.max_rate)
    jobs = {(t.name, r): (tmp / f"requests-{i}-{r}.bin", 1_000_000_000 + (i * 100 + r) * 10_000_000)
            for i, t in enumerate(targets) for r in range(args.rounds if t.url else 1)}
    futures = [pool.submit(write_requests, path, count, base) for path, base in jobs.values()]
    for f in futures:
        f.result()
    return {key: path for key, (path, _) in jobs.items()}


def start_servers(targets: list[Target], tmp: Path, args: argparse.Namespace) -> None:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
    for t in targets:
        log = tmp / f"{t.name.split()[-1]}.log"
        if t.url is None:
            t.proc, t.port = gunicorn("bare_flask:app", base_env, args.workers, args.threads, log)
        else:
            config, t.before = prepare_database(t.url, tmp, t.name.split()[-1])
            t.settings = durability(t.url)
            env = {**base_env, "SALESBOT_CONFIG": str(config)}
            t.proc, t.port = gunicorn("bot:create_app()", env, args.workers, args.threads, log)


def run_phases(targets: list[Target], bench: Bench, args: argparse.Namespace,
               files: dict[tuple[str, int], Path], tmp: Path) -> None:
    script = tmp / "ingest.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    for t in targets:
        bench.phase("warm-up", t.port, t.url is not None, 1.0)
        t.acknowledged = bench.acknowledged_since_reset()
    marks = {t.name: last_id(t.url) for t in targets if t.url}
    for r in range(args.rounds):  # bare, SQLite, PostgreSQL back to back: each round's ratios side by side
        for t in targets:
            requests = files.get((t.name, r if t.url else 0)) if files else None
            sat = saturate(t, bench, args, requests, script)
            t.rounds.append(sat)
            if t.url is not None:  # the Python generator counts what it got acknowledged itself
                t.acknowledged += sat.ok if requests is not None else bench.acknowledged_since_reset()
    for t in targets:
        if t.url:
            top = last_id(t.url)
            t.batches, marks[t.name] = batch_sizes(t.url, marks[t.name], top), top
    for t in targets:
        t.fixed = bench.phase(t.name, t.port, t.url is not None, args.rate_seconds, args.rate)
        t.acknowledged += bench.acknowledged_since_reset()
        if t.url:
            t.fixed_batches = batch_sizes(t.url, marks[t.name], last_id(t.url))


def describe_batches(sizes: list[int]) -> str:
    if not sizes:
        return "no rows"
    rows = sum(sizes)
    buckets = [(1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 10**9)]
    parts = []
    for lo, hi in buckets:
        share = sum(n for n in sizes if lo <= n <= hi) / rows
        if share:
            parts.append(f"{lo if lo == hi else f'{lo}-{hi}' if hi < 10**9 else f'{lo}+'}: {share:.0%}")
    return f"{rows} rows in {len(sizes)} commits, {rows / len(sizes):.1f} per commit (rows by batch size {', '.join(parts)})"


def report(args: argparse.Namespace, use_wrk: bool, targets: list[Target], stored: dict[str, int]) -> int:
    bare = targets[0]
    ok = True
    load = (f"wrk -t1 -c{args.connections} (pre-built requests, each sent once)" if use_wrk else
            f"the Python generator, {args.processes} processes x {args.clients} keep-alive clients")
    print(f"WeCom ingest benchmark — gunicorn -k gthread -w {args.workers} --threads {args.threads} for every "
          f"server; saturation by {load} over loopback; {os.cpu_count()} CPUs")
    for t in targets[1:]:
        print(f"  {t.name}: {t.settings}")
    print()
    print(f"saturation, {args.seconds:g} s x {args.rounds} rounds   requests/s   p50 ms   p99 ms   errors"
          "   server CPU us/req   load CPU s   x bare")
    for r in range(args.rounds):
        base = bare.rounds[r]
        for t in targets:
            p = t.rounds[r]
            ratio = p.rps / base.rps if base.rps else 0.0
            note = "" if t is bare else f"{ratio:>8.2f}"
            if p.exhausted:
                note += f"  (ran out of prepared messages: {p.exhausted} requests unsent; raise --max-rate)"
            print(f"  {r + 1}. {t.name:<30} {p.rps:>8.0f} {p.p50:>8.2f} {p.p99:>8.2f} "
                  f"{p.errors:>8} {p.server_cpu_us:>14.0f} {p.generator_cpu:>12.2f} {note}")
    print()
    for t in targets[1:]:
        ratios = sorted(t.rounds[r].rps / bare.rounds[r].rps for r in range(args.rounds) if bare.rounds[r].rps)
        cpu = sorted(bare.rounds[r].server_cpu_us / t.rounds[r].server_cpu_us for r in range(args.rounds)
                     if t.rounds[r].server_cpu_us)
        median = statistics.median(ratios) if ratios else 0.0
        verdict = "ok" if median >= TARGET_RATIO else "MISSED"
        ok &= median >= TARGET_RATIO and not any(p.exhausted for p in t.rounds)
        print(f"  {t.name}: x bare {ratios[0]:.2f}–{ratios[-1]:.2f} (median {median:.2f})  {verdict};"
              f" bare CPU / its CPU per request {cpu[0]:.2f}–{cpu[-1]:.2f}")
        print(f"    saturation commits: {describe_batches(t.batches)}")
    print(f"  (target: ingest >= {TARGET_RATIO} x bare on each database, median of the rounds)")
    print()
    print(f"fixed {args.rate:g} requests/s, {args.rate_seconds:g} s     sent   p50 ms   p99 ms   errors")
    for t in targets:
        f = t.fixed
        assert f is not None
        verdict = "" if t is bare else ("ok" if f.pct(0.99) < TARGET_P99_MS else "MISSED")
        ok &= t is bare or f.pct(0.99) < TARGET_P99_MS
        print(f"  {t.name:<32} {f.ok + f.errors:>6} {f.p50:>8.2f} {f.pct(0.99):>8.2f} {f.errors:>8}  {verdict}")
        if t.url:
            print(f"    commits: {describe_batches(t.fixed_batches)}")
    print(f"  (target: ingest p99 < {TARGET_P99_MS:g} ms)")
    print()
    # wrk stops with requests in flight: stored, but their answers never read (at most one per connection)
    cut = args.connections * args.rounds if use_wrk else 0
    for t in targets[1:]:
        rows = stored[t.name]
        match = t.acknowledged <= rows <= t.acknowledged + cut
        ok &= match
        extra = f" ({rows - t.acknowledged} in flight when wrk stopped, at most {cut})" if cut else ""
        print(f"stored before acknowledged, {t.name}: {t.acknowledged} answered 200, {rows} new inbound rows{extra}"
              f"  {'ok' if match else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
