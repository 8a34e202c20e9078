"""The org chart: who manages whom, who may act for whom, and who a notify target names.

Every walk up the management chain goes through `chain_above`; the config forbids loops, and the
walk still stops at a loop or after CHAIN_LIMIT levels so a broken directory cannot hang a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from handlers.context import Context
from storage import directory
from storage.models import Customer, User

log = logging.getLogger(__name__)

CHAIN_LIMIT = 20  # guards the walk up the management chain
DIRECTOR, ADMIN = "director", "admin"
ROLE_NAMES = {"rep": "销售", "manager": "经理", "director": "总监", "finance": "财务", "admin": "管理员"}


def active_user(ctx: Context, user_id: str | None) -> User | None:
    """The directory user with this id, if they are still an active member of the org."""
    user = directory.get_user(ctx.session, user_id)
    return user if user is not None and user.active else None


def owner_of(ctx: Context, customer: Customer) -> User | None:
    """The customer's owner, if they are still an active member of the org."""
    return active_user(ctx, customer.owner_id)


def chain_above(ctx: Context, user: User | None) -> list[User]:
    """Everyone above a user in the management chain, nearest first (active or not)."""
    chain: list[User] = []
    current = directory.manager_of(ctx.session, user)
    while current is not None and len(chain) < CHAIN_LIMIT and current not in chain and current is not user:
        chain.append(current)
        current = directory.manager_of(ctx.session, current)
    return chain


managers_of = chain_above


def manager_at(ctx: Context, user: User | None, levels: int = 1) -> User | None:
    """The manager `levels` levels above a user, if that person is active; None past the top."""
    chain = chain_above(ctx, user)
    boss = chain[levels - 1] if 0 < levels <= len(chain) else None
    return boss if boss is not None and boss.active else None


def active_top(ctx: Context, user: User) -> User:
    """The highest person above a user reached through active managers only (the user if none)."""
    top = user
    for boss in chain_above(ctx, user):
        if not boss.active:
            break
        top = boss
    return top


def is_above(ctx: Context, user: User, below: User | None) -> bool:
    """Whether `user` is somewhere above `below` in the management chain."""
    return any(m.id == user.id for m in chain_above(ctx, below))


def may_act_for(ctx: Context, user: User, owner: User | None) -> bool:
    """Who may act on someone's work (complete their to-do, see their customer's risk): they, or a manager above them."""
    return owner is not None and (owner.id == user.id or is_above(ctx, user, owner))


def with_role(ctx: Context, role: str) -> list[User]:
    return directory.with_role(ctx.session, role)


def admins(ctx: Context) -> list[User]:
    return directory.with_role(ctx.session, ADMIN)


def directors_over(ctx: Context, role: str) -> list[User]:
    """Users with role director; else the top of the chain above the role's holders; else admins."""
    directors = directory.with_role(ctx.session, DIRECTOR)
    if directors:
        return directors
    tops: dict[str, User] = {}
    for holder in directory.with_role(ctx.session, role):
        top = active_top(ctx, holder)
        tops.setdefault(top.id, top)
    return list(tops.values()) or admins(ctx)


def fallback_recipients(ctx: Context) -> tuple[str, ...]:
    """Nobody resolved (a customer in the public pool, say): directors, else admins, must still know."""
    for role in (DIRECTOR, ADMIN):
        ids = tuple(u.id for u in directory.with_role(ctx.session, role))
        if ids:
            return ids
    return ()


def resolve_recipients(ctx: Context, targets: Sequence[str], owner: User | None) -> tuple[str, ...]:
    """Directory ids for notify targets (owner, manager, director, admin, user:<id>, role:<role>)."""
    ids: list[str] = []
    for target in targets:
        ids += [u.id for u in _target_users(ctx, target, owner) if u.active]
    return tuple(dict.fromkeys(ids))


def _target_users(ctx: Context, target: str, owner: User | None) -> list[User]:
    if target == "owner":
        return [owner] if owner else []
    if target == "manager":
        return chain_above(ctx, owner)[:1]
    if target == DIRECTOR:
        above = [u for u in chain_above(ctx, owner) if u.role == DIRECTOR]
        return above[:1] or directory.with_role(ctx.session, DIRECTOR)
    if target == ADMIN:
        return admins(ctx)
    if target.startswith("role:"):
        return directory.with_role(ctx.session, target[5:])
    if target.startswith("user:"):
        user = directory.get_user(ctx.session, target[5:])
        return [user] if user else []
    log.warning("unknown notify target %r ignored", target)
    return []


def user_name(ctx: Context, user_id: str | None) -> str:
    """The name to show for a directory id ('—' for nobody)."""
    user = directory.get_user(ctx.session, user_id)
    return user.name if user else (user_id or "—")


def role_name(role: str) -> str:
    return ROLE_NAMES.get(role, role)
