"""Small query helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    # RETURNING tells reliably whether a row went in (rowcount is -1 when psycopg returns rows).
    key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    return session.connection().execute(stmt.returning(key)).first() is not None
