"""Platform access tokens cached in the database, so every worker shares one token per app."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import PlatformToken

# Refresh a little before the platform's expiry so a request never carries a token that dies in flight.
SAFETY_MARGIN = timedelta(minutes=5)


def cached(session: Session, name: str, now: datetime) -> str | None:
    """The cached token if it is still good for a while, else None."""
    row = session.get(PlatformToken, name)
    if row is None or row.expires_at - SAFETY_MARGIN <= now:
        return None
    return row.value


def store(session: Session, name: str, value: str, expires_in: int, now: datetime) -> None:
    expires_at = now + timedelta(seconds=expires_in)
    row = session.get(PlatformToken, name)
    if row is None:
        if insert_ignore(session, PlatformToken, dict(name=name, value=value, expires_at=expires_at), ["name"]):
            return
        row = session.get(PlatformToken, name, populate_existing=True)
    assert row is not None
    row.value, row.expires_at = value, expires_at


def invalidate(session: Session, name: str, value: str | None = None) -> None:
    """Forget a token the platform rejected (only that value, so a fresher one stays)."""
    stmt = delete(PlatformToken).where(PlatformToken.name == name)
    if value is not None:
        stmt = stmt.where(PlatformToken.value == value)
    session.execute(stmt)
