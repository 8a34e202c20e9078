"""The audit log: who changed which field of what, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry


def record(
    session: Session,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: Any,
    field: str,
    before: Any,
    after: Any,
    note: str | None = None,
) -> None:
    """Add one audit entry; values are stored as text."""
    session.add(
        AuditEntry(
            at=at, actor=actor, entity=entity, entity_id=str(entity_id), field=field,
            before=None if before is None else str(before), after=None if after is None else str(after),
            note=note,
        )
    )


def set_field(session: Session, obj: Any, field: str, value: Any, at: datetime, actor: str, note: str | None = None) -> bool:
    """Change obj.field to value and audit it; returns False (and records nothing) if unchanged."""
    before = getattr(obj, field)
    if before == value:
        return False
    setattr(obj, field, value)
    record(session, at, actor, obj.__tablename__.rstrip("s"), obj.id, field, before, value, note)
    return True


def history(session: Session, entity: str, entity_id: Any) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
    return list(session.scalars(stmt.order_by(AuditEntry.id)))
