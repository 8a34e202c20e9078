"""The org directory: users synced from config, and lookups along the management chain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage import audit
from storage.models import User

SYNCED_FIELDS = ("name", "role", "manager_id", "wecom_userid", "dingtalk_userid", "prefer", "active")


class UserLike(Protocol):
    """A [[users]] entry (read-only attributes, as in the frozen config dataclass)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def manager(self) -> str | None: ...
    @property
    def wecom_userid(self) -> str | None: ...
    @property
    def dingtalk_userid(self) -> str | None: ...
    @property
    def prefer(self) -> str | None: ...


def sync_users(session: Session, users: Iterable[UserLike], at: datetime, actor: str = "config") -> int:
    """Make the users table match [[users]]; people no longer listed are deactivated, not deleted."""
    wanted = {u.id: _synced_values(u) for u in users}
    rows: dict[str, User] = {u.id: u for u in session.scalars(select(User))}
    before = {uid: {f: getattr(row, f) for f in SYNCED_FIELDS} for uid, row in rows.items()}
    for uid in rows:
        if uid not in wanted and rows[uid].synced_from is None:  # a platform's directory sync owns its users
            wanted[uid] = {**before[uid], "active": False}
    # clear platform ids first so two users swapping ids do not trip the unique index mid-way
    for existing in rows.values():
        if existing.id in wanted:
            existing.wecom_userid = existing.dingtalk_userid = None
    session.flush()
    changes = 0
    for uid, values in wanted.items():
        row = rows.get(uid)
        if row is None:
            row = rows[uid] = User(id=uid)
            session.add(row)
            audit.record(session, at, actor, "user", uid, "created", None, values["name"])
            changes += 1
        for field, value in values.items():
            setattr(row, field, value)
            old = before.get(uid, {}).get(field)
            if uid in before and old != value:
                audit.record(session, at, actor, "user", uid, field, old, value)
                changes += 1
    session.flush()
    return changes


def _synced_values(u: UserLike) -> dict[str, object]:
    return {"name": u.name, "role": u.role, "manager_id": u.manager, "wecom_userid": u.wecom_userid,
            "dingtalk_userid": u.dingtalk_userid, "prefer": u.prefer, "active": True}


def get_user(session: Session, user_id: str | None) -> User | None:
    return session.get(User, user_id) if user_id else None


def by_platform_id(session: Session, platform: str, platform_user_id: str) -> User | None:
    """The active directory user behind a WeCom or DingTalk user id."""
    column = {"wecom": User.wecom_userid, "dingtalk": User.dingtalk_userid}.get(platform)
    if column is None:
        return session.get(User, platform_user_id)  # console: directory ids
    return session.scalars(select(User).where(column == platform_user_id, User.active.is_(True))).first()


def manager_of(session: Session, user: User | None, levels: int = 1) -> User | None:
    """Walk `levels` steps up the management chain; None past the top."""
    current = user
    for _ in range(levels):
        if current is None or not current.manager_id:
            return None
        current = session.get(User, current.manager_id)
    return current


def with_role(session: Session, role: str) -> list[User]:
    return list(session.scalars(select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)))


def reports_of(session: Session, manager_id: str) -> list[User]:
    """Everyone below a manager, at any depth."""
    found: list[User] = []
    frontier = [manager_id]
    while frontier:
        rows = list(session.scalars(select(User).where(User.manager_id.in_(frontier))))
        rows = [r for r in rows if r.id not in {f.id for f in found}]
        found += rows
        frontier = [r.id for r in rows]
    return found


def find_users(session: Session, text: str) -> list[User]:
    """Users whose id or name equals the text."""
    return list(session.scalars(select(User).where(or_(User.id == text, User.name == text))))


def platform_id_of(session: Session, user: User, platform: str) -> str | None:
    """A directory user's id on a platform (the reverse of by_platform_id); None if they have none there."""
    if platform == "console":
        return user.id
    return {"wecom": user.wecom_userid, "dingtalk": user.dingtalk_userid}.get(platform)


def active_ids_with_roles(session: Session, roles: Iterable[str]) -> list[str]:
    """Ids of active users holding one of these roles, sorted (lead assignment reads only the ids)."""
    stmt = select(User.id).where(User.role.in_(list(roles)), User.active.is_(True)).order_by(User.id)
    return list(session.scalars(stmt))


class OrgMemberLike(Protocol):
    """A member as a platform's directory lists them (handlers.org_sync.OrgMember)."""

    @property
    def platform_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def manager_platform_id(self) -> str | None: ...
    @property
    def active(self) -> bool: ...


def apply_org_members(session: Session, platform: str, members: Iterable[OrgMemberLike], configured: set[str],
                      at: datetime) -> tuple[int, list[str]]:
    """Write a platform's directory into users (the one place org sync writes them): new members are
    created as reps, names and managers follow the platform, users listed in [[users]] (`configured`) keep
    their role and prefer. Returns (fields changed, ids of users who left or are gone from the listing)."""
    column = {"wecom": User.wecom_userid, "dingtalk": User.dingtalk_userid}[platform]
    listed = {m.platform_id: m for m in members}
    known = {getattr(u, column.key): u for u in session.scalars(select(User).where(column.is_not(None)))}
    changes, left = 0, []
    for pid, member in listed.items():
        user = known.get(pid)
        if user is None:
            uid = pid if session.get(User, pid) is None else f"{platform}:{pid}"
            user = known[pid] = User(id=uid, name=member.name, role="rep", active=True, synced_from=platform)
            setattr(user, column.key, pid)
            session.add(user)
            audit.record(session, at, f"org-sync:{platform}", "user", uid, "created", None, member.name)
            changes += 1
    session.flush()
    for pid, member in listed.items():
        user = known[pid]
        boss = known.get(member.manager_platform_id or "")
        values: dict[str, object] = {"name": member.name, "active": member.active}
        if user.id not in configured:
            values["manager_id"] = boss.id if boss is not None and boss.id != user.id else None
        was_active = user.active is not False
        for field, value in values.items():
            changes += audit.set_field(session, user, field, value, at, f"org-sync:{platform}")
        if was_active and not member.active:
            left.append(user.id)
    for pid, user in known.items():
        if pid not in listed and user.active:
            audit.set_field(session, user, "active", False, at, f"org-sync:{platform}", "gone from the directory")
            changes += 1
            left.append(user.id)
    session.flush()
    return changes, left
