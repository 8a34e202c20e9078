"""Lookups for a batch of messages at once: one query per kind instead of one per message.

Used when many archived messages are handled in one transaction (handlers.pipeline.handle_archived)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage.directory import CONSOLE
from storage.models import Conversation, Customer, CustomerIdentity, Message, User, UserIdentity


def users_by_platform_id(session: Session, platform: str, ids: Collection[str]) -> dict[str, User]:
    """Active directory users behind these platform user ids (on the console: the directory ids), as
    directory.by_platform_id finds them one by one."""
    if not ids:
        return {}
    if platform == CONSOLE:
        return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
    rows = session.execute(select(UserIdentity.external_id, User).join(User, UserIdentity.user_id == User.id)
                           .where(UserIdentity.platform == platform, UserIdentity.external_id.in_(ids),
                                  User.active.is_(True)))
    return {external: user for external, user in rows}


def conversations(session: Session, platform: str, ids: Collection[str]) -> dict[str, Conversation]:
    if not ids:
        return {}
    rows = session.scalars(select(Conversation).where(Conversation.platform == platform,
                                                      Conversation.conversation_id.in_(ids)))
    return {c.conversation_id: c for c in rows}


def customers_by_identity(session: Session, platform: str, ids: Collection[str]) -> dict[str, Customer]:
    if not ids:
        return {}
    rows = session.execute(select(CustomerIdentity.external_id, Customer).join(Customer)
                           .where(CustomerIdentity.platform == platform, CustomerIdentity.external_id.in_(ids)))
    return {external: customer for external, customer in rows}


def customers(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(wanted)))}


def add_messages(session: Session, platform: str, rows: list[dict[str, object]]) -> dict[str, Message]:
    """Put messages on the timeline once (one INSERT); returns those new, by platform message id (a
    message id already on the timeline is a redelivery and left out)."""
    ids = [str(r["platform_msg_id"]) for r in rows]
    if not ids:
        return {}
    there = set(session.scalars(select(Message.platform_msg_id)
                                .where(Message.platform == platform, Message.platform_msg_id.in_(ids))))
    fresh = [r for r in rows if r["platform_msg_id"] not in there]
    if fresh:
        session.execute(insert(Message), fresh)
    fresh_ids = [str(r["platform_msg_id"]) for r in fresh]
    if not fresh_ids:
        return {}
    return {m.platform_msg_id: m for m in session.scalars(
        select(Message).where(Message.platform == platform, Message.platform_msg_id.in_(fresh_ids)))}
