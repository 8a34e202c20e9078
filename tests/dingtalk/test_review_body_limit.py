"""Review: an oversized DingTalk callback sent without Content-Length (chunked) is refused with 413,
like one that declares its length — not cut at the limit and then judged as malformed."""

from __future__ import annotations

import http.client
import threading

import pytest
from werkzeug.serving import make_server

from bot.dingtalk_sign import robot_sign
from tests.conftest import NOW
from tests.dingtalk.conftest import APP_SECRET


@pytest.mark.parametrize("path", ["/dingtalk/robot", "/dingtalk/events?msg_signature=a&timestamp=1&nonce=1"])
def test_oversized_chunked_body_is_413_on_a_real_server(app, runtime, path):
    limit = runtime.settings.server.max_body_bytes
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        timestamp = str(int(NOW.timestamp() * 1000))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        body = (b"x" * 4096 for _ in range(limit // 4096 + 2))
        conn.request("POST", path, body=body, encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked", "timestamp": timestamp,
                              "sign": robot_sign(timestamp, APP_SECRET)})
        response = conn.getresponse()
        assert response.status == 413
        assert b"Traceback" not in response.read()
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
