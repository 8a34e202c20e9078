"""The board's stored state: login-link nonces already used (a replayed link is refused)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import BoardLogin, User


def use_login(session: Session, nonce: str, user_id: str, at: datetime) -> bool:
    """Mark a login link's nonce used; False when it was used before (by this or another web worker)."""
    return insert_ignore(session, BoardLogin, {"nonce": nonce, "user_id": user_id, "used_at": at}, ["nonce"])


def user_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(User.id, User.name)).tuples().all())
