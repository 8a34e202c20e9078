"""Writes for a large batch at once (an archive pull stores up to 1,000 messages in one transaction):
on PostgreSQL as one JSON document (as storage.json_rows explains), on SQLite as the VALUES it parses in C."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from storage.models import InboundItem
from storage.queues import store_inbound_many
from storage.states import InboundStatus

# The payload travels as its JSON text inside the document and is cast back: PostgreSQL's JSON functions
# would turn its escapes (a \u0000 a customer typed) into text, which it cannot hold.
_STORE_INBOUND_JSON = text(
    "INSERT INTO inbound (platform, dedupe_key, kind, payload, received_at, status, available_at, attempts) "
    "SELECT platform, dedupe_key, kind, CAST(payload AS json), :now, :status, :now, 0 "
    "FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) "
    "AS (platform varchar, dedupe_key varchar, kind varchar, payload text)) WITH ORDINALITY AS r "
    "ORDER BY r.ordinality "
    "ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING platform, dedupe_key"
).bindparams(bindparam("now", type_=InboundItem.__table__.c.received_at.type))


def store_inbound_batch(session: Session, items: list[tuple[str, str, str, dict[str, Any]]],
                        now: datetime) -> list[bool]:
    """queues.store_inbound_many in the session's transaction, for (platform, dedupe_key, kind, payload)
    items in order: per item False when already stored, or repeated earlier in the batch."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return store_inbound_many(conn, items, now)
    first: dict[tuple[str, str], int] = {}
    rows = []
    for i, (platform, dedupe_key, kind, payload) in enumerate(items):
        key = (platform, dedupe_key[:255])
        if key not in first:
            first[key] = i
            rows.append(dict(platform=key[0], dedupe_key=key[1], kind=kind, payload=json.dumps(payload)))
    if not rows:
        return []
    inserted = {(p, k) for p, k in conn.execute(_STORE_INBOUND_JSON, {
        "rows": json.dumps(rows), "now": now, "status": InboundStatus.PENDING.value})}
    return [(p, k[:255]) in inserted and first[(p, k[:255])] == i for i, (p, k, _, _) in enumerate(items)]
