"""Engine, sessions and schema migrations (Alembic, run programmatically)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys so several threads share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite opens transactions lazily and never for SELECT; take the write lock at BEGIN so
        # two workers claiming the same row serialize instead of failing on lock upgrade. A connection
        # marked read_only (execution option; see read_only()) reads without the write lock.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


READ_ONLY = {"salesbot_read_only": True}


def _sqlite_begin(conn: Any) -> None:
    options = conn.get_execution_options()
    # straight to the driver: this runs for every transaction, the execution machinery is not needed
    conn.connection.driver_connection.execute("BEGIN" if options.get("salesbot_read_only") else "BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Connection:
    """A connection for reads alone: on SQLite its transactions never wait for (or take) the write lock."""
    return engine.connect().execution_options(**READ_ONLY)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class WriteGate:
    """Queues this host's processes for SQLite's write lock in the kernel (flock on `<db>.write-lock`).

    SQLite's busy handler polls with sleeps of 1, 2, 5, 10… ms, so web workers contending for the lock
    idle while it is free; waiting on flock wakes the next one the moment the holder commits, and the
    requests piling up meanwhile join its group commit. Only the web edge's group commit uses it; other
    writers still meet the lock through busy_timeout. A no-op for PostgreSQL and in-memory SQLite."""

    def __init__(self, db: str | None) -> None:
        self._fd = os.open(f"{db}.write-lock", os.O_RDWR | os.O_CREAT, 0o600) if db else None
        self._local = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        with self._local:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


_gates: dict[str | None, WriteGate] = {}
_gates_lock = threading.Lock()


def write_gate(engine: Engine) -> WriteGate:
    """The process's gate for this engine's database file (one file descriptor per file)."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    key = db if db and db != ":memory:" else None
    with _gates_lock:
        if key not in _gates:
            _gates[key] = WriteGate(key)
        return _gates[key]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to date (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
