"""What every platform's webhook views share: the app state (runtime, clock, storing before answering)
and the bounded body reader. Platform modules import this, not bot.app, so bot.app can import the
platform registry without a cycle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request
from sqlalchemy import Connection
from werkzeug.exceptions import RequestEntityTooLarge

from bot.config import Settings
from bot.runtime import Runtime
from handlers.event_model import Event
from handlers.model import InboundMessage
from storage.common import utcnow
from storage.db import write_gate
from storage.queues import store_inbound_many


@dataclass
class AppState:
    """What the views need: the runtime and a hook that wakes the inbound worker."""

    runtime: Runtime
    on_stored: Callable[[], None]
    clock: Callable[[], datetime] = utcnow

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def accept(self, item: InboundMessage | Event) -> bool:
        """Store an inbound item durably before the platform is answered; False for a repeat."""
        return self.accept_many([item])[0]

    def accept_many(self, items: Sequence[InboundMessage | Event], conn: Connection | None = None) -> list[bool]:
        """accept() for several items in one transaction (a web worker's group commit); one result each.
        `conn`: a connection of the caller's own (from connect()), used by one thread at a time."""
        rows = [(i.platform, i.dedupe_key, "message" if isinstance(i, InboundMessage) else "event", i.to_dict())
                for i in items]
        stored = self._store(rows) if conn is None else self._store_on(conn, rows)
        if any(stored):
            self.on_stored()
        return stored

    def _store(self, rows: list[tuple[str, str, str, dict]]) -> list[bool]:
        """On PostgreSQL the batch is one INSERT … RETURNING in autocommit, a single statement being its
        own durable transaction: no BEGIN and COMMIT round trips (a pooled connection costs a ping and
        the statement, two instead of four, and in autocommit its reset on return sends nothing)."""
        with self.connect() as conn:
            return self._store_on(conn, rows)

    def connect(self) -> Connection:
        """A connection to store inbound items on (in autocommit on PostgreSQL, see _store)."""
        conn = self.runtime.engine.connect()
        if conn.dialect.name == "sqlite":  # SQLite keeps BEGIN IMMEDIATE … COMMIT: in-process calls, cheap
            return conn
        return conn.execution_options(isolation_level="AUTOCOMMIT")

    def _store_on(self, conn: Connection, rows: list[tuple[str, str, str, dict]]) -> list[bool]:
        with write_gate(self.runtime.engine).held(), conn.begin():  # autocommit: ending this Transaction sends nothing
            return store_inbound_many(conn, rows, self.clock())


def state() -> AppState:
    return current_app.extensions["salesbot"]  # type: ignore[no-any-return]


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
