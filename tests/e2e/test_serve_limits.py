"""`salesbot serve` under idle connections: they cost no thread each, and /healthz still answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_serve_live import ROOT, _free_port, _healthy, _wait_for

IDLE = 400


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def test_400_idle_connections_neither_block_healthz_nor_grow_threads(write_config, tmp_path: Path):
    port = _free_port()
    config = write_config()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--config", str(config)],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT), "SALESBOT_SERVER__THREADS": "4"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    idle: list[socket.socket] = []
    try:
        _wait_for(lambda: _healthy(port), "/healthz", proc)
        before = _threads(proc.pid)
        for i in range(IDLE):
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:  # half send a partial request and stall (slowloris), half send nothing
                conn.sendall(b"POST /wecom/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<xml>")
            idle.append(conn)
        assert _healthy(port), "/healthz must answer beside 400 idle connections"
        # waitress: one event loop and a fixed pool; werkzeug's threaded server had one thread per connection
        assert _threads(proc.pid) <= before + 8 < IDLE
    finally:
        for conn in idle:
            conn.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
