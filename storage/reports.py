"""Weekly report runs: who got which week's report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import ReportRun, User


def claim(session: Session, manager_id: str, week: str, at: datetime) -> bool:
    """Claim `week`'s report for a manager; False when it was already sent (by this or another worker)."""
    return insert_ignore(session, ReportRun, {"manager_id": manager_id, "week": week, "sent_at": at},
                         ["manager_id", "week"])


def user_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(User.id, User.name)).tuples().all())
