"""Named leases in the database: at most one holder at a time, taken over only after expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import Lease


def acquire(session: Session, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; True if `holder` holds it until now + ttl."""
    if insert_ignore(session, Lease, dict(name=name, holder=holder, expires_at=now + ttl), ["name"]):
        return True
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, name: str, holder: str) -> None:
    session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder).values(holder=""))
