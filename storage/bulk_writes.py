"""Writes for a large batch at once (an archive pull stores up to 1,000 messages in one transaction):
on PostgreSQL as one JSON document (storage.json_rows), on SQLite as the VALUES it parses in C."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from storage.json_rows import insert_json_rows, json_rows
from storage.models import InboundItem
from storage.queues import store_inbound_many
from storage.states import InboundStatus

_INBOUND: Table = InboundItem.__table__  # type: ignore[assignment]
_INBOUND_COLUMNS = ("platform", "dedupe_key", "kind", "payload", "received_at", "status", "available_at", "attempts")


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
            rows.append(dict(platform=key[0], dedupe_key=key[1], kind=kind, payload=payload, received_at=now,
                             status=InboundStatus.PENDING.value, available_at=now, attempts=0))
    if not rows:
        return []
    stmt = insert_json_rows(_INBOUND, _INBOUND_COLUMNS, ("platform", "dedupe_key"), "platform, dedupe_key")
    inserted = {(p, k) for p, k in conn.execute(stmt, {"rows": json_rows(rows)})}
    return [(p, k[:255]) in inserted and first[(p, k[:255])] == i for i, (p, k, _, _) in enumerate(items)]
