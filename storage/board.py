"""The board's stored state: login-link nonces already used (a replayed link is refused); names and the
org chart as the board's pages read them."""

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


def reporting_lines(session: Session) -> list[tuple[str, str | None]]:
    """(user id, manager id) of every user: the org chart without loading a User per row."""
    return list(session.execute(select(User.id, User.manager_id)).tuples().all())


def managers(session: Session) -> list[User]:
    """Active users someone reports to, by id (not every user loaded to find the fifty)."""
    bosses = select(User.manager_id).where(User.manager_id.is_not(None))
    return sorted(session.scalars(select(User).where(User.active.is_(True), User.id.in_(bosses))), key=lambda u: u.id)
