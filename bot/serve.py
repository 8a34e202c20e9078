"""The web server of `salesbot serve`: waitress, not werkzeug's development server.

werkzeug's threaded server holds one thread per open connection without limit (400 stalled
connections, 404 threads). waitress reads requests in one event loop and hands only complete requests
to a fixed pool of threads, closes connections idle for `[server] idle_timeout_seconds`, and stops
accepting past `connection_limit` (new connections wait in the listen backlog). It is pure Python
with no dependencies and runs in-process beside the scheduler, which gunicorn's pre-fork model
would not (its workers are separate processes).
"""

from __future__ import annotations

import signal
from typing import Any

from waitress.server import create_server

from bot.config import ServerConfig


def make_server(app: Any, host: str, port: int, config: ServerConfig) -> Any:
    """A waitress server for `app` on host:port with the limits of [server]; `.run()` serves."""
    return create_server(
        app, host=host, port=port, threads=config.threads, connection_limit=config.connection_limit,
        channel_timeout=config.idle_timeout_seconds, cleanup_interval=max(1, config.idle_timeout_seconds // 2),
        # poll(), not select(): select() fails past 1024 file descriptors
        asyncore_use_poll=True, ident="salesbot", max_request_body_size=config.max_body_bytes + 65536,
        clear_untrusted_proxy_headers=True,
    )


def stop_on_signals() -> None:
    """SIGTERM/SIGINT end `server.run()`: waitress returns from its loop on SystemExit in the main thread
    (signal handlers run there) after stopping its request threads."""

    def handler(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
