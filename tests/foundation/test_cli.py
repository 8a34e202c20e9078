"""The salesbot command as a newcomer runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.cli import main

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_no_config_in_an_empty_directory_answers_healthz(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=tmp_path,
                            env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200 and json.load(resp) == {"status": "ok"}
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        assert (tmp_path / "salesbot.db").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()


def test_serve_refuses_an_invalid_config(tmp_path: Path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[wecom]\nencoding_aes_key = "abc"\n', encoding="utf-8")
    assert main(["serve", "--config", str(bad)]) == 2
    assert f"{bad}: wecom.encoding_aes_key: 必须正好 43 个字符" in capsys.readouterr().err


def test_db_upgrade_and_tick(write_config, capsys):
    path = write_config()
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    assert "latest schema" in capsys.readouterr().out
    assert main(["tick", "--config", str(path), "--at", "2026-11-22T09:00:00+08:00"]) == 0
    assert '"at": "2026-11-22T09:00:00+08:00"' in capsys.readouterr().out


def test_tick_rejects_a_bad_time(write_config):
    import pytest

    with pytest.raises(SystemExit, match="not an ISO-8601 time"):
        main(["tick", "--config", str(write_config()), "--at", "tomorrow"])
