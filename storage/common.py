"""Small query helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import StatementLambdaElement, Table, lambda_stmt, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_ignore(session: Session, model: type[Base], values: dict[str, Any], conflict: list[str]) -> bool:
    """INSERT unless a row with the same unique `conflict` columns exists; True if inserted.

    Used wherever a platform may deliver the same thing twice: the unique index decides, so two
    workers racing on the same message cannot both insert it.
    """
    stmt = _insert_ignore_stmt(model, session.get_bind().dialect.name, tuple(conflict))
    # RETURNING tells reliably whether a row went in (rowcount is -1 when psycopg returns rows).
    return session.connection().execute(stmt, values).first() is not None


@cache
def _insert_ignore_stmt(model: type[Base], dialect: str, conflict: tuple[str, ...]) -> StatementLambdaElement:
    """One INSERT … ON CONFLICT DO NOTHING per table and dialect, compiled once.

    SQLAlchemy never caches the compiled form of a dialect insert (its class sets inherit_cache=False),
    so a plain statement compiled afresh on every call (about 0.9 ms, most of the cost of a small
    insert). A lambda statement is cached by its code location plus `track_on`: the table and the
    columns, so each table and conflict set gets its own entry; one lambda per dialect because the
    dialect module is not part of that key. The values are execute() parameters, never the statement.
    """
    table: Table = model.__table__  # type: ignore[assignment]
    cols = [table.c[name] for name in conflict]
    key = table.primary_key.columns.values()[0]
    track = [table, key, tuple_(*cols)]  # a fixed length: lambda_stmt indexes track_on by position
    if dialect == "postgresql":
        return lambda_stmt(lambda: postgresql.insert(table).on_conflict_do_nothing(index_elements=cols).returning(key),
                           track_on=track, track_closure_variables=False)
    return lambda_stmt(lambda: sqlite.insert(table).on_conflict_do_nothing(index_elements=cols).returning(key),
                       track_on=track, track_closure_variables=False)
