"""The two persistent queues: inbound items (stored before acknowledging) and the card outbox.

Both are claimed with a conditional UPDATE (status and lease checked in the WHERE clause), so two
processes never work on the same row; a claim expires, so a killed process loses nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import InboundItem, OutboxItem
from storage.states import OUTBOX, InboundStatus, OutboxStatus

# ---------------------------------------------------------------------------------------------- inbound


def store_inbound(session: Session, platform: str, dedupe_key: str, kind: str, payload: dict[str, Any],
                  now: datetime) -> bool:
    """Store an inbound message/event once; False when it was already stored (a platform retry)."""
    values = dict(platform=platform, dedupe_key=dedupe_key[:255], kind=kind, payload=payload,
                  received_at=now, status=InboundStatus.PENDING, available_at=now, attempts=0)
    return insert_ignore(session, InboundItem, values, ["platform", "dedupe_key"])


def store_inbound_many(conn: Connection, items: list[tuple[str, str, str, dict[str, Any]]], now: datetime) -> list[bool]:
    """store_inbound for several (platform, dedupe_key, kind, payload) with one statement: a web worker's
    group commit. Per item: False when already stored, or repeated earlier in the batch.

    This is every webhook's path, so it skips SQLAlchemy's statement machinery: one INSERT … ON
    CONFLICT DO NOTHING … RETURNING on the driver's cursor, its text built once per batch size (on
    PostgreSQL once: the rows travel as arrays, so the server prepares it a single time), the values
    converted by the columns' own bind processors as the ORM would."""
    first: dict[tuple[str, str], int] = {}
    rows = []
    for i, (platform, dedupe_key, kind, payload) in enumerate(items):
        key = (platform, dedupe_key[:255])
        if key not in first:
            first[key] = i
            rows.append((key[0], key[1], kind, payload))
    writer = _inbound_writer(conn.dialect)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # inside conn's transaction
    try:
        cursor.execute(*writer.statement(rows, now))
        inserted = {(p, k) for p, k in cursor.fetchall()}
    finally:
        cursor.close()
    return [(p, k[:255]) in inserted and first[(p, k[:255])] == i for i, (p, k, _, _) in enumerate(items)]


class _InboundInsert:
    """The driver-level INSERT of inbound rows for one dialect (see store_inbound_many)."""

    COLUMNS = ("platform", "dedupe_key", "kind", "payload", "received_at", "status", "available_at", "attempts")

    def __init__(self, dialect: Dialect) -> None:
        table = InboundItem.__table__
        self.postgres = dialect.name == "postgresql"
        self._time = _bind(table.c.received_at.type, dialect)
        self._json = _bind(table.c.payload.type, dialect)
        self._head = f"INSERT INTO {InboundItem.__tablename__} ({', '.join(self.COLUMNS)}) "
        self._tail = " ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING platform, dedupe_key"
        self._by_size: dict[int, str] = {}

    def statement(self, rows: list[tuple[str, str, str, dict[str, Any]]], now: datetime) -> tuple[str, tuple[Any, ...]]:
        at = self._time(now)
        if self.postgres:  # one text for every batch size: the rows go as four arrays
            sql = self._by_size.get(0) or self._by_size.setdefault(0, self._head + (
                "SELECT p, d, k, j::json, %s, %s, %s, 0 FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])"
                " AS t(p, d, k, j)") + self._tail)
            columns = list(zip(*rows, strict=True))
            payloads = [json.dumps(p) for p in columns[3]]
            return sql, (at, InboundStatus.PENDING.value, at, list(columns[0]), list(columns[1]), list(columns[2]),
                         payloads)
        sql = self._by_size.get(len(rows)) or self._by_size.setdefault(len(rows), self._head + "VALUES " + ", ".join(
            ["(?, ?, ?, ?, ?, ?, ?, 0)"] * len(rows)) + self._tail)
        pending = InboundStatus.PENDING.value
        params: list[Any] = []
        for platform, dedupe_key, kind, payload in rows:
            params += (platform, dedupe_key, kind, self._json(payload), at, pending, at)
        return sql, tuple(params)


def _bind(column_type: Any, dialect: Dialect) -> Any:
    """The column type's conversion of a Python value for this dialect (identity if it has none)."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


_writers: dict[str, _InboundInsert] = {}


def _inbound_writer(dialect: Dialect) -> _InboundInsert:
    if dialect.name not in _writers:
        _writers[dialect.name] = _InboundInsert(dialect)
    return _writers[dialect.name]


def claim_inbound(session: Session, now: datetime, worker: str, lease: timedelta, limit: int) -> list[InboundItem]:
    """Claim up to `limit` pending inbound items whose time has come (oldest first)."""
    ids = session.scalars(
        select(InboundItem.id)
        .where(InboundItem.status == InboundStatus.PENDING, InboundItem.available_at <= now)
        .order_by(InboundItem.id)
        .limit(limit)
    ).all()
    if not ids:
        return []
    # one conditional UPDATE for them all: an item another worker claimed meanwhile no longer matches
    claimed = session.scalars(
        update(InboundItem)
        .where(InboundItem.id.in_(ids), InboundItem.status == InboundStatus.PENDING, InboundItem.available_at <= now)
        .values(available_at=now + lease, claimed_by=worker, attempts=InboundItem.attempts + 1)
        .returning(InboundItem.id),
        execution_options=NO_SYNC,
    ).all()
    return list(session.scalars(select(InboundItem).where(InboundItem.id.in_(claimed)).order_by(InboundItem.id)))


# ---------------------------------------------------------------------------------------------- outbox

# The outbox's conditional UPDATEs run in short sessions that hold no outbox objects to refresh: skip
# the ORM's in-Python evaluation of each WHERE clause (a third of a pump's CPU with a backlog).
NO_SYNC = {"synchronize_session": False}


def add_outbox(session: Session, values: dict[str, Any]) -> bool:
    """Queue one card for one recipient; a repeated dedupe_key adds nothing (False)."""
    if values.get("dedupe_key"):
        return insert_ignore(session, OutboxItem, values, ["dedupe_key"])
    session.add(OutboxItem(**values))
    return True


def collapsible_outbox(session: Session, channel: str, target: str, collapse_key: str) -> OutboxItem | None:
    """The newest row with this collapse key to this target that no worker has touched yet."""
    return session.scalars(
        select(OutboxItem)
        .where(OutboxItem.channel == channel, OutboxItem.target == target, OutboxItem.collapse_key == collapse_key,
               OutboxItem.status == OutboxStatus.PENDING, OutboxItem.attempts == 0, OutboxItem.claimed_by.is_(None))
        .order_by(OutboxItem.id.desc()).limit(1)
    ).first()


def merge_into_outbox(session: Session, item_id: int, card: dict[str, Any], collapsed: int) -> bool:
    """Replace an untouched row's card (conditional: a worker may have claimed it meanwhile)."""
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.status == OutboxStatus.PENDING, OutboxItem.attempts == 0,
               OutboxItem.claimed_by.is_(None))
        .values(card=card, collapsed=collapsed),
        execution_options=NO_SYNC,
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def defer_target(session: Session, channel: str, target: str, until: datetime, worker: str) -> int:
    """Move every pending row to one rate-limited target to `until`, in one statement (rows another
    worker holds are left to it); returns how many moved."""
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.channel == channel, OutboxItem.target == target, OutboxItem.status == OutboxStatus.PENDING,
               (OutboxItem.claimed_by.is_(None) & (OutboxItem.next_attempt_at < until))
               | (OutboxItem.claimed_by == worker))
        .values(next_attempt_at=until, claimed_by=None, claimed_until=None),
        execution_options=NO_SYNC,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def claim_outbox(session: Session, now: datetime, worker: str, lease: timedelta, limit: int) -> list[OutboxItem]:
    """Claim up to `limit` due outbox items for this worker until now + lease (higher priority first)."""
    ids = session.scalars(
        select(OutboxItem.id)
        .where(OutboxItem.status == OutboxStatus.PENDING, OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.priority.desc(), OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(limit)
    ).all()
    if not ids:
        return []
    # One conditional UPDATE for the whole batch (not one per row): the WHERE still re-checks each row,
    # so a row another worker claimed meanwhile is simply not returned.
    got = set(session.scalars(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.status == OutboxStatus.PENDING, OutboxItem.next_attempt_at <= now)
        .values(next_attempt_at=now + lease, claimed_by=worker, claimed_until=now + lease)
        .returning(OutboxItem.id),
        execution_options=NO_SYNC,
    ))
    claimed = [item_id for item_id in ids if item_id in got]
    order = {item_id: n for n, item_id in enumerate(claimed)}
    rows = session.scalars(select(OutboxItem).where(OutboxItem.id.in_(claimed)))
    return sorted(rows, key=lambda r: order[r.id])


def renew_outbox_claim(session: Session, item_id: int, worker: str, until: datetime) -> bool:
    """Extend this worker's claim right before sending; False if the claim was lost meanwhile."""
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.claimed_by == worker, OutboxItem.status == OutboxStatus.PENDING)
        .values(next_attempt_at=until, claimed_until=until),
        execution_options=NO_SYNC,
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_outbox(session: Session, item_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Record the outcome of a send, only if this worker still holds the claim."""
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.claimed_by == worker, OutboxItem.status == OutboxStatus.PENDING)
        .values(claimed_by=None, claimed_until=None, **values),
        execution_options=NO_SYNC,
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recent_sends(session: Session, channel: str, target: str, since: datetime) -> tuple[int, datetime | None]:
    """How many cards went to this target since `since`, and the oldest of them."""
    row = session.execute(
        select(func.count(OutboxItem.id), func.min(OutboxItem.sent_at)).where(
            OutboxItem.channel == channel, OutboxItem.target == target,
            OutboxItem.status == OutboxStatus.SENT, OutboxItem.sent_at >= since,
        )
    ).one()
    return int(row[0]), row[1]


# ---------------------------------------------------------------------------------------------- operators


def list_outbox(session: Session, status: str | None, limit: int) -> list[OutboxItem]:
    """Outbox rows for an operator, newest first; `status` None means every status."""
    stmt = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(OutboxItem.status == status)
    return list(session.scalars(stmt))


def retry_outbox(session: Session, ids: list[int], now: datetime) -> list[int]:
    """Queue dead (or dropped) rows again, as of `now` (a fresh retry window); returns those requeued."""
    done = []
    for item_id in ids:
        if OUTBOX.move(session, OutboxItem, OutboxItem.id == item_id, source=(OutboxStatus.DEAD, OutboxStatus.DROPPED),
                       target=OutboxStatus.PENDING, next_attempt_at=now, created_at=now, attempts=0, claimed_by=None,
                       claimed_until=None):
            done.append(item_id)
    return done


def drop_outbox(session: Session, ids: list[int]) -> list[int]:
    """Never send these pending or dead rows; returns those dropped."""
    done = []
    for item_id in ids:
        if OUTBOX.move(session, OutboxItem, OutboxItem.id == item_id, source=(OutboxStatus.PENDING, OutboxStatus.DEAD),
                       target=OutboxStatus.DROPPED, claimed_by=None, claimed_until=None):
            done.append(item_id)
    return done
