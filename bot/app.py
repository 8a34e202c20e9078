"""The Flask app factory: health check, body limit, JSON errors, and the platforms' webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot import board, board_deals, leads_api
from bot.config import Settings, load_settings
from bot.edge import AppState, read_body, state
from bot.platforms import registered
from bot.runtime import Runtime, open_runtime
from storage.common import utcnow
from storage.db import read_only

__all__ = ["AppState", "create_app", "read_body", "state"]  # AppState, read_body, state: see bot.edge

log = logging.getLogger(__name__)

def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               on_stored: Callable[[], None] | None = None, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the app from ready settings (or load them as the CLI would)."""
    if runtime is None:
        runtime = open_runtime(settings or load_settings())
    app = Flask("salesbot")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.server.max_body_bytes
    app.extensions["salesbot"] = AppState(runtime, on_stored or (lambda: None), clock or utcnow)
    app.before_request(_refuse_oversized)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/healthz", "healthz", healthz)
    board.init_app(app)  # /board: the web board, logged into from the chat
    board_deals.init_app(app)  # /board/deals, /board/leads: 商机漏斗 and 线索
    for platform in registered():  # each registered platform's webhook routes
        platform.init_app(app, app.extensions["salesbot"])
    leads_api.init_app(app, app.extensions["salesbot"])  # POST /api/leads: marketing's intake
    return app


def healthz() -> tuple[Response, int]:
    try:
        with read_only(state().runtime.engine) as conn:  # never queues behind a writer on SQLite
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.error("health check: database unreachable: %s", exc)
        return jsonify(status="unhealthy", database="unreachable"), 503
    return jsonify(status="ok"), 200


def _refuse_oversized() -> None:
    # the WSGI header itself: request.content_length builds the header view on every request (webhooks)
    declared = request.environ.get("CONTENT_LENGTH")
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"request body over {limit} bytes")


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    code = exc.code or 500
    return jsonify(error=(exc.name or "error").lower().replace(" ", "_"), message=exc.description), code


def _unexpected_error(exc: Exception) -> tuple[Response, int]:
    # Never show a traceback to the caller; a 500 before commit makes the platform retry.
    log.exception("unhandled error in %s %s", request.method, request.path)
    return jsonify(error="internal_error", message="internal error; it has been logged"), 500
