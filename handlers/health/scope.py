"""Who sees whose figures: a rep their own, a manager everyone below them, directors and admins all."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage import board as board_repo
from storage import directory
from storage.models import User

SEES_ALL = ("director", "admin")


def visible_people(session: Session, viewer: User) -> set[str] | None:
    """The directory ids whose records `viewer` may see (None: everyone); a user who left sees nothing."""
    if not viewer.active:
        return set()
    if viewer.role in SEES_ALL:
        return None
    return {viewer.id, *team_ids(session, viewer.id)}


def team_ids(session: Session, manager_id: str) -> set[str]:
    """Everyone below a manager, at any depth (the manager not included)."""
    return {u.id for u in directory.reports_of(session, manager_id)}


def teams(session: Session) -> dict[str, set[str]]:
    """Everyone below each user who has someone below them (at any depth), from one read of the directory:
    the same sets as `team_ids`, for a page listing many teams."""
    children: dict[str, list[str]] = {}
    for user_id, manager_id in board_repo.reporting_lines(session):
        if manager_id:
            children.setdefault(manager_id, []).append(user_id)
    out: dict[str, set[str]] = {}
    for manager in children:
        found: set[str] = set()
        frontier = [manager]
        while frontier:
            frontier = [c for f in frontier for c in children.get(f, ()) if c not in found]
            found.update(frontier)
        out[manager] = found
    return out


def may_see(visible: set[str] | None, person_id: str | None) -> bool:
    return visible is None or person_id in visible


def managers(session: Session) -> list[User]:
    """Active users with someone reporting to them: each gets a weekly report for their team."""
    return board_repo.managers(session)


def direct_reports(session: Session, manager_id: str) -> list[User]:
    return sorted((u for u in directory.all_users(session) if u.manager_id == manager_id), key=lambda u: u.id)
