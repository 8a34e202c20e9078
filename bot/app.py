"""The Flask app factory: health check, body limit, JSON errors, and the platforms' webhooks."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot.config import Settings, load_settings
from bot.runtime import Runtime, open_runtime
from handlers.model import InboundEvent, InboundMessage
from storage.common import utcnow
from storage.queues import store_inbound_many

log = logging.getLogger(__name__)

# Each platform module exposes `init_app(app, state)` that registers its webhook routes.
PLATFORM_MODULES = ("bot.wecom", "bot.dingtalk", "bot.leads_api")


@dataclass
class AppState:
    """What the views need: the runtime and a hook that wakes the inbound worker."""

    runtime: Runtime
    on_stored: Callable[[], None]
    clock: Callable[[], datetime] = utcnow

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def accept(self, item: InboundMessage | InboundEvent) -> bool:
        """Store an inbound item durably before the platform is answered; False for a repeat."""
        return self.accept_many([item])[0]

    def accept_many(self, items: Sequence[InboundMessage | InboundEvent]) -> list[bool]:
        """accept() for several items in one transaction (a web worker's group commit); one result each."""
        rows = [(i.platform, i.dedupe_key, "message" if isinstance(i, InboundMessage) else "event", i.to_dict())
                for i in items]
        # A plain connection, not an ORM session: this is the hot path of every webhook.
        with self.runtime.engine.begin() as conn:
            stored = store_inbound_many(conn, rows, self.clock())
        if any(stored):
            self.on_stored()
        return stored


def state() -> AppState:
    return current_app.extensions["salesbot"]  # type: ignore[no-any-return]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               on_stored: Callable[[], None] | None = None, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the app from ready settings (or load them as the CLI would)."""
    if runtime is None:
        runtime = open_runtime(settings or load_settings(), with_channels=False)
    app = Flask("salesbot")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.server.max_body_bytes
    app.extensions["salesbot"] = AppState(runtime, on_stored or (lambda: None), clock or utcnow)
    app.before_request(_refuse_oversized)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/healthz", "healthz", healthz)
    for name in PLATFORM_MODULES:
        _init_platform(app, name)
    return app


def _init_platform(app: Flask, module_name: str) -> None:
    importlib.import_module(module_name).init_app(app, app.extensions["salesbot"])


def healthz() -> tuple[Response, int]:
    try:
        with state().runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.error("health check: database unreachable: %s", exc)
        return jsonify(status="unhealthy", database="unreachable"), 503
    return jsonify(status="ok"), 200


def _refuse_oversized() -> None:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"request body over {limit} bytes")


def read_body() -> bytes:
    """The request body, refusing more than [server] max_body_bytes (413) also when no Content-Length was
    sent: werkzeug's get_data silently cuts a chunked body at the limit."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    chunks, size = [], 0
    while chunk := request.stream.read(65536):
        size += len(chunk)
        if limit is not None and size > limit:
            raise RequestEntityTooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    code = exc.code or 500
    return jsonify(error=(exc.name or "error").lower().replace(" ", "_"), message=exc.description), code


def _unexpected_error(exc: Exception) -> tuple[Response, int]:
    # Never show a traceback to the caller; a 500 before commit makes the platform retry.
    log.exception("unhandled error in %s %s", request.method, request.path)
    return jsonify(error="internal_error", message="internal error; it has been logged"), 500
