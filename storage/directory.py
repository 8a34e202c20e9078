"""The org directory: users synced from config, their platform identities, and lookups along the
management chain.

The id map lives here and only here: `by_platform_id` (platform id -> user), `platform_ids` /
`platform_id` (user -> platform ids) and `member_ids` (every org member's id on a platform). A user's
ids are rows of user_identities, so a new platform adds rows, not columns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from storage import audit
from storage.models import AuditEntry, User, UserIdentity

log = logging.getLogger(__name__)

SYNCED_FIELDS = ("name", "role", "manager_id", "prefer", "active")
# the directory user's own id doubles as the address on the console (log) channel
CONSOLE = "console"


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
    def platform_ids(self) -> Mapping[str, str]:
        """platform -> this user's id there (WeCom userid, DingTalk staff id...)."""
        ...
    @property
    def prefer(self) -> str | None: ...


def sync_users(session: Session, users: Iterable[UserLike], at: datetime, actor: str = "config") -> int:
    """Make the users table match [[users]]; people no longer listed are deactivated, not deleted."""
    users = list(users)
    wanted = {u.id: _synced_values(u) for u in users}
    rows: dict[str, User] = {u.id: u for u in session.scalars(select(User))}
    before = {uid: {f: getattr(row, f) for f in SYNCED_FIELDS} for uid, row in rows.items()}
    for uid in rows:
        if uid not in wanted and rows[uid].synced_from is None:  # a platform's directory sync owns its users
            wanted[uid] = {**before[uid], "active": False}
    for uid in _left_elsewhere(session, [uid for uid in wanted if uid in rows and not rows[uid].active], actor):
        log.warning("user %s left the organisation but is still listed in [[users]]; they stay inactive "
                    "(remove them from the config)", uid)
        wanted[uid]["active"] = False
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
    created = set(rows) - set(before)
    return changes + _sync_identities(session, {u.id: dict(u.platform_ids) for u in users}, at, actor, created)


def _left_elsewhere(session: Session, inactive: list[str], actor: str) -> list[str]:
    """Of these inactive users, those whose last change of `active` was made by someone other than
    `actor` (a platform's "left the organisation" event): a config that still lists them does not bring
    them back; only another change of `active` by someone other than the config (they rejoined) does."""
    if not inactive:
        return []
    last: dict[str, AuditEntry] = {}
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.entity == "user",
                                                           AuditEntry.entity_id.in_(inactive),
                                                           AuditEntry.field == "active")
                                 .order_by(AuditEntry.id)):
        last[entry.entity_id] = entry
    return [uid for uid in inactive if uid in last and last[uid].actor != actor]


def _synced_values(u: UserLike) -> dict[str, object]:
    return {"name": u.name, "role": u.role, "manager_id": u.manager, "prefer": u.prefer, "active": True}


def _sync_identities(session: Session, wanted: dict[str, dict[str, str]], at: datetime, actor: str,
                     created: set[str]) -> int:
    """Make user_identities match the listed users' ids. People no longer listed keep theirs unless a
    listed user now has the same id (by_platform_id only finds active users anyway)."""
    have = {(r.user_id, r.platform): r.external_id for r in session.scalars(select(UserIdentity))}
    taken = {(p, x) for ids in wanted.values() for p, x in ids.items()}
    goal = {(uid, p): x for (uid, p), x in have.items() if uid not in wanted and (p, x) not in taken}
    goal.update({(uid, p): x for uid, ids in wanted.items() for p, x in ids.items()})
    stale = [key for key, x in have.items() if goal.get(key) != x]
    # delete before insert (and flush between) so two users swapping ids do not trip the unique index
    for uid, platform in stale:
        session.execute(delete(UserIdentity).where(UserIdentity.user_id == uid, UserIdentity.platform == platform))
    session.flush()
    changes = 0
    for (uid, platform), external_id in goal.items():
        old = have.get((uid, platform))
        if old == external_id:
            continue
        session.add(UserIdentity(user_id=uid, platform=platform, external_id=external_id))
        if uid not in created:  # a new user's creation is audited once, as before
            audit.record(session, at, actor, "user", uid, f"{platform}_userid", old, external_id)
            changes += 1
    for uid, platform in stale:
        if (uid, platform) not in goal:
            audit.record(session, at, actor, "user", uid, f"{platform}_userid", have[(uid, platform)], None)
            changes += 1
    session.flush()
    return changes


def set_platform_id(session: Session, user_id: str, platform: str, external_id: str | None) -> None:
    """Give a user an id on a platform (None removes it); the caller makes sure nobody else holds it."""
    session.execute(delete(UserIdentity).where(UserIdentity.user_id == user_id, UserIdentity.platform == platform))
    if external_id:
        session.add(UserIdentity(user_id=user_id, platform=platform, external_id=external_id))
    session.flush()


def platform_ids(session: Session, user_id: str) -> dict[str, str]:
    """platform -> the user's id there (empty for a user known on no platform)."""
    stmt = select(UserIdentity.platform, UserIdentity.external_id).where(UserIdentity.user_id == user_id)
    return {platform: external_id for platform, external_id in session.execute(stmt)}


def platform_id(session: Session, user_id: str, platform: str) -> str | None:
    """The user's id on one platform; on the console it is the directory id itself."""
    if platform == CONSOLE:
        return user_id
    return session.scalar(select(UserIdentity.external_id)
                          .where(UserIdentity.user_id == user_id, UserIdentity.platform == platform))


def member_ids(session: Session, platform: str) -> set[str]:
    """Every org member's id on a platform (active or not): whoever is not in it is outside the org."""
    if platform == CONSOLE:
        return set(session.scalars(select(User.id)))
    return set(session.scalars(select(UserIdentity.external_id).where(UserIdentity.platform == platform)))


def get_user(session: Session, user_id: str | None) -> User | None:
    return session.get(User, user_id) if user_id else None


def by_platform_id(session: Session, platform: str, platform_user_id: str) -> User | None:
    """The active directory user behind a platform's user id (on the console: the directory id)."""
    if platform == CONSOLE:
        return session.get(User, platform_user_id)
    stmt = (select(User).join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.platform == platform, UserIdentity.external_id == platform_user_id,
                   User.active.is_(True)))
    return session.scalars(stmt).first()


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


def all_users(session: Session) -> list[User]:
    """Every user row, active or not (the directory is small)."""
    return list(session.scalars(select(User)))


def names_and_managers(session: Session) -> dict[str, tuple[str, str | None]]:
    """Every user's (name, manager id) by id, active or not, as plain rows (reports that name people
    and their teams read no more)."""
    return {uid: (name, manager_id) for uid, name, manager_id in session.execute(select(User.id, User.name, User.manager_id))}


def user_by_platform_id(session: Session, platform: str, platform_user_id: str) -> User | None:
    """The directory user behind a platform's user id, active or not (hand-over of a leaver)."""
    if platform == CONSOLE:
        return session.get(User, platform_user_id)
    stmt = (select(User).join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.platform == platform, UserIdentity.external_id == platform_user_id))
    return session.scalars(stmt).first()


def platform_id_of(session: Session, user: User, platform: str) -> str | None:
    """A directory user's id on a platform (the reverse of by_platform_id); None if they have none there."""
    return platform_id(session, user.id, platform)


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
    listed = {m.platform_id: m for m in members}
    stmt = (select(UserIdentity.external_id, User).join(User, UserIdentity.user_id == User.id)
            .where(UserIdentity.platform == platform))
    known: dict[str, User] = {pid: user for pid, user in session.execute(stmt).tuples()}
    changes, left = 0, []
    for pid, member in listed.items():
        if pid in known:
            continue
        uid = pid if session.get(User, pid) is None else f"{platform}:{pid}"
        user = known[pid] = User(id=uid, name=member.name, role="rep", active=True, synced_from=platform)
        session.add(user)
        session.flush()
        set_platform_id(session, uid, platform, pid)
        audit.record(session, at, f"org-sync:{platform}", "user", uid, "created", None, member.name)
        changes += 1
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
