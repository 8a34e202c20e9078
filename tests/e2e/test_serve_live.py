"""`salesbot serve` as one process does it all: a WeCom message posted over real HTTP is stored,
handled by the background pump and answered through the (fake) WeCom API — no test-driven jobs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from bot.wecom_crypto import WeComCrypto
from tests.fakes.wecom import FakeWeComServer
from tests.wecom.conftest import (
    AES_KEY,
    AGENT_ID,
    APP_SECRET,
    CONTACT_SECRET,
    CORP_ID,
    TOKEN,
    text_xml,
    wecom_toml,
)

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate, what: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Poll a live process (real time passes here: it is another process, not a scheduled check)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"serve exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_serve_receives_handles_and_sends_on_its_own(write_config, tmp_path: Path):
    port = _free_port()
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    with FakeWeComServer(corp_id=CORP_ID, secrets=(APP_SECRET, CONTACT_SECRET)) as fake:
        config = write_config(wecom_toml(fake.api_base) + "[worker]\ndelivery_seconds = 0.5\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--config",
                                 str(config)], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: _healthy(port), "/healthz", proc)
            timestamp, nonce = str(int(time.time())), "42"
            xml = text_xml("zhangsan", "关联 比亚迪股份有限公司", "77001", datetime.now(UTC))
            body = crypto.seal(xml, timestamp, nonce, AGENT_ID)
            query = urlencode({"msg_signature": crypto.sign_body(body, timestamp, nonce),
                               "timestamp": timestamp, "nonce": nonce})
            request = urllib.request.Request(f"http://127.0.0.1:{port}/wecom/callback?{query}", data=body,
                                             headers={"Content-Type": "text/xml"}, method="POST")
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert resp.status == 200
            _wait_for(lambda: any("比亚迪股份有限公司" in t for t in fake.sent_texts()), "the reply card", proc)
            assert [b["touser"] for b in fake.sent()] == ["zhangsan"]
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
