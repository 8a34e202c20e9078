"""POST /api/leads: intake sources (marketing forms, expo scanners) submit leads as JSON.

identify (bearer token per [[leads.sources]], compared in constant time) → rate limit per source →
parse → take the lead in one transaction → 201 with its code, or 200 for a repeated idempotency key.
401 no or malformed token, 403 a token no source has (or another source's lead), 400 bad JSON or
field, 413 too large, 429 over [leads] api_per_minute.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import timedelta

from flask import Flask, Response, jsonify, request

from bot.edge import AppState, read_body, state
from handlers.context import Context
from handlers.leads import LeadProblem
from handlers.leads_intake import take_json
from storage import leads as repo
from storage.db import transaction

log = logging.getLogger(__name__)

PATH = "/api/leads"


def init_app(app: Flask, app_state: AppState) -> None:
    app.add_url_rule(PATH, "leads_api", post_lead, methods=["POST"])


def _refuse(status: int, error: str, message: str) -> tuple[Response, int]:
    log.info("POST %s refused: %s %s", PATH, status, error)
    response = jsonify(error=error, message=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="salesbot"'
    return response, status


def source_of(st: AppState, header: str | None) -> str | None:
    """The source whose token this is; every token is compared, so timing says nothing about which."""
    token = header[7:].strip() if header and header[:7].lower() == "bearer " else ""
    found = None
    for source in st.settings.leads.sources:
        if hmac.compare_digest(source.token.encode(), token.encode()):
            found = source.name
    return found


def post_lead() -> tuple[Response, int]:
    st = state()
    header = request.headers.get("Authorization")
    if not header or header[:7].lower() != "bearer " or not header[7:].strip():
        return _refuse(401, "unauthorized", "send Authorization: Bearer <token> of your lead source")
    source = source_of(st, header)
    if source is None:
        return _refuse(403, "forbidden", "this token belongs to no lead source")
    body = read_body()
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _refuse(400, "bad_json", "the body must be a UTF-8 JSON object")
    now = st.clock()
    with transaction(st.runtime.factory) as session:
        if repo.created_since(session, source, now - timedelta(minutes=1)) >= st.settings.leads.api_per_minute:
            return _refuse(429, "rate_limited", f"over {st.settings.leads.api_per_minute} leads a minute")
        try:
            intake = take_json(Context(session, st.settings, now), source, payload,
                               request.headers.get("Idempotency-Key"))
        except LeadProblem as exc:
            return _refuse(400, "bad_field", f"{exc.field}: {exc}")
        except PermissionError as exc:
            return _refuse(403, "forbidden", str(exc))
        lead = intake.lead
        answer = dict(code=lead.code, status=lead.status, owner=lead.owner_id, repeated=not intake.created)
    return jsonify(answer), 201 if intake.created else 200
