"""The two persistent queues: inbound items (stored before acknowledging) and the card outbox.

Both are claimed with a conditional UPDATE (status and lease checked in the WHERE clause), so two
processes never work on the same row; a claim expires, so a killed process loses nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Row, Table, bindparam, func, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from storage.batch_lookups import among
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


def _due_inbound_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Up to `limit` pending inbound items whose time has come, oldest first (candidates: the claiming
    UPDATE decides)."""
    return list(session.scalars(
        select(InboundItem.id)
        .where(InboundItem.status == InboundStatus.PENDING, InboundItem.available_at <= now)
        .order_by(InboundItem.id)
        .limit(limit)
    ).all())


def claim_inbound(session: Session, now: datetime, worker: str, lease: timedelta, limit: int) -> list[InboundItem]:
    """Claim up to `limit` pending inbound items whose time has come (oldest first)."""
    ids = _due_inbound_ids(session, now, limit)
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


# The pump's statements are built once: constructing a statement and deriving its cache key cost more
# than running it (a pump that finds nothing due spent 0.9 ms on one indexed SELECT), and they run as
# Core statements on the session's connection, outside the ORM's bulk-update machinery (another 0.7 ms
# per recorded send). Rows come back as Core rows with the outbox columns as attributes.
_T = cast(Table, OutboxItem.__table__)
_PENDING = _T.c.status == OutboxStatus.PENDING.value
# The same test for statements that name their rows by id: SQLite, seeing `status = ?`, would walk every
# pending row of ix_outbox_due rather than look the listed ids up (30 ids cost 0.45 ms instead of 0.06).
_STILL_PENDING = func.coalesce(_T.c.status, "") == OutboxStatus.PENDING.value

_DUE_IDS = (
    select(_T.c.id)
    .where(_PENDING, _T.c.next_attempt_at <= bindparam("now"))
    .order_by(_T.c.priority.desc(), _T.c.next_attempt_at, _T.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_CLAIM = (
    update(_T)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)), _STILL_PENDING, _T.c.next_attempt_at <= bindparam("now"))
    .values(next_attempt_at=bindparam("until"), claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
    .returning(*_T.c)
)
_HELD = (_T.c.id == bindparam("item_id")) & (_T.c.claimed_by == bindparam("worker")) & _PENDING
_RENEW = update(_T).where(_HELD).values(next_attempt_at=bindparam("until"), claimed_until=bindparam("until"))
_RECENT = select(func.count(_T.c.id), func.min(_T.c.sent_at)).where(
    _T.c.channel == bindparam("channel"), _T.c.target == bindparam("target"),
    _T.c.status == OutboxStatus.SENT.value, _T.c.sent_at >= bindparam("since"))
_MOVABLE = _STILL_PENDING & ((_T.c.claimed_by.is_(None)) | (_T.c.claimed_by == bindparam("worker")))
# A rate-limited target's rows to move: due before its window opens, or held by this worker. The range on
# next_attempt_at comes first so that SQLite walks ix_outbox_due (rows due soon), not every row ever
# sent to the target.
_TO_MOVE = (
    _PENDING & (_T.c.next_attempt_at <= bindparam("horizon")) & (_T.c.channel == bindparam("b_channel"))
    & (_T.c.target == bindparam("b_target"))
    & ((_T.c.claimed_by.is_(None) & (_T.c.next_attempt_at < bindparam("until"))) | (_T.c.claimed_by == bindparam("worker")))
)
_NEXT_TO_MOVE = (  # queue order (a held row's next_attempt_at is only its lease)
    select(_T.c.id).where(_TO_MOVE).order_by(_T.c.priority.desc(), _T.c.id).limit(bindparam("limit", type_=Integer))
)
_MOVE_LISTED = (
    update(_T)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)), _MOVABLE)
    .values(next_attempt_at=bindparam("until"), claimed_by=None, claimed_until=None)
)
_MOVE_REST = update(_T).where(_TO_MOVE).values(next_attempt_at=bindparam("later"), claimed_by=None, claimed_until=None)
_finish_statements: dict[tuple[str, ...], Any] = {}

# The pump's functions take a session, or a bare connection for a batch's many short transactions.
Db = Session | Connection


def _conn(db: Db) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def defer_target(db: Db, channel: str, target: str, until: datetime, worker: str, per_window: int,
                 window: timedelta, claims_end: datetime, windows: int = 8) -> int:
    """Move the pending rows to one rate-limited target that would come due before `until`, and those
    this worker holds (its claims end by `claims_end`), to the windows that can send them: the first
    `per_window`, in queue order, to `until`, the next to `until + window`, and so on for `windows`
    windows; the rest, in one statement, to the window after those (where the next defer spreads them).
    Each row is then due once, when it can go: a backlog is neither re-checked nor rewritten card by
    card every window. Rows another worker holds are left to it; returns how many moved."""
    conn = _conn(db)
    per_window = max(1, per_window)
    which = dict(b_channel=channel, b_target=target, until=until, worker=worker, horizon=max(until, claims_end))
    ids = conn.execute(_NEXT_TO_MOVE, dict(which, limit=per_window * windows)).scalars().all()
    moved = 0
    for n, start in enumerate(range(0, len(ids), per_window)):
        slot = dict(ids=ids[start:start + per_window], until=until + window * n, worker=worker)
        moved += int(conn.execute(_MOVE_LISTED, slot).rowcount)
    if len(ids) == per_window * windows:  # those just moved no longer match
        moved += int(conn.execute(_MOVE_REST, dict(which, later=until + window * windows)).rowcount)
    return moved


def claim_outbox(db: Db, now: datetime, worker: str, lease: timedelta, limit: int) -> list[Row[Any]]:
    """Claim up to `limit` due outbox items for this worker until now + lease (higher priority first)."""
    conn = _conn(db)
    ids = conn.execute(_DUE_IDS, dict(now=now, limit=limit)).scalars().all()
    if not ids:
        return []
    # One conditional UPDATE for the whole batch (not one per row): the WHERE still re-checks each row,
    # so a row another worker claimed meanwhile is simply not returned.
    got = {row.id: row for row in conn.execute(_CLAIM, dict(ids=ids, now=now, until=now + lease, worker=worker))}
    return [got[item_id] for item_id in ids if item_id in got]


def renew_outbox_claim(db: Db, item_id: int, worker: str, until: datetime) -> bool:
    """Extend this worker's claim right before sending; False if the claim was lost meanwhile."""
    result = _conn(db).execute(_RENEW, dict(item_id=item_id, worker=worker, until=until))
    return bool(result.rowcount)


def finish_outbox(db: Db, item_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Record the outcome of a send, only if this worker still holds the claim."""
    keys = tuple(sorted(values))
    stmt = _finish_statements.get(keys)
    if stmt is None:  # one statement per set of columns written (a send, a retry, a give-up)
        stmt = _finish_statements[keys] = update(_T).where(_HELD).values(
            claimed_by=None, claimed_until=None, **{k: bindparam(f"v_{k}") for k in keys})
    params = {f"v_{k}": v for k, v in values.items()}
    result = _conn(db).execute(stmt, dict(item_id=item_id, worker=worker, **params))
    return bool(result.rowcount)


def recent_sends(db: Db, channel: str, target: str, since: datetime) -> tuple[int, datetime | None]:
    """How many cards went to this target since `since`, and the oldest of them."""
    row = _conn(db).execute(_RECENT, dict(channel=channel, target=target, since=since)).one()
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


def claim_inbound_rows(session: Session, now: datetime, worker: str, lease: timedelta, limit: int) -> list[Row[Any]]:
    """claim_inbound as plain rows (id, kind, payload, attempts, claimed_by, available_at), oldest first,
    straight from the claiming UPDATE: the inbound job reads nothing else, and building 500 ORM objects
    cost it more than the claim itself. The ids go in as one array on PostgreSQL (among)."""
    ids = _due_inbound_ids(session, now, limit)
    if not ids:
        return []
    # one conditional UPDATE for them all: an item another worker claimed meanwhile no longer matches
    rows = session.execute(
        update(InboundItem)
        .where(among(session, InboundItem.id, ids), InboundItem.status == InboundStatus.PENDING,
               InboundItem.available_at <= now)
        .values(available_at=now + lease, claimed_by=worker, attempts=InboundItem.attempts + 1)
        .returning(InboundItem.id, InboundItem.kind, InboundItem.payload, InboundItem.attempts,
                   InboundItem.claimed_by, InboundItem.available_at),
        execution_options=NO_SYNC,
    ).all()
    return sorted(rows, key=lambda row: row.id)
