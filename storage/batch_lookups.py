"""Lookups for a batch of messages at once: one query per kind instead of one per message.

Used when many archived messages are handled in one transaction (handlers.pipeline.handle_archived)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import QueryableAttribute, Session

from storage.directory import CONSOLE
from storage.json_rows import insert_json_rows, json_rows
from storage.models import Conversation, Customer, CustomerIdentity, Message, User, UserIdentity

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]


def among(session: Session, column: QueryableAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(:values)`, one array parameter however many
    values: the statement's text stays the same, so neither psycopg nor the server parses and plans it
    afresh (an IN list of 200 costs the server about 6 ms a time, the array under 1 ms)."""
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))
    return column.in_(listed)


def plan_for_values(session: Session) -> None:
    """On PostgreSQL, plan this transaction's statements for their actual values. psycopg prepares a
    statement run five times, and the server then settles on a generic plan: one made while a table
    was still small (a first back-fill) scans it whole for each `= ANY(:values)` from then on (130 ms
    a lookup with 20,000 messages, against 2 ms). Planning each time costs far less."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def users_by_platform_id(session: Session, platform: str, ids: Collection[str]) -> dict[str, User]:
    """Active directory users behind these platform user ids (on the console: the directory ids), as
    directory.by_platform_id finds them one by one."""
    if not ids:
        return {}
    if platform == CONSOLE:
        return {u.id: u for u in session.scalars(select(User).where(among(session, User.id, ids)))}
    rows = session.execute(select(UserIdentity.external_id, User).join(User, UserIdentity.user_id == User.id)
                           .where(UserIdentity.platform == platform, among(session, UserIdentity.external_id, ids),
                                  User.active.is_(True)))
    return {external: user for external, user in rows}


def conversations(session: Session, platform: str, ids: Collection[str]) -> dict[str, Conversation]:
    if not ids:
        return {}
    rows = session.scalars(select(Conversation).where(Conversation.platform == platform,
                                                      among(session, Conversation.conversation_id, ids)))
    return {c.conversation_id: c for c in rows}


def customers_by_identity(session: Session, platform: str, ids: Collection[str]) -> dict[str, Customer]:
    if not ids:
        return {}
    rows = session.execute(select(CustomerIdentity.external_id, Customer).join(Customer)
                           .where(CustomerIdentity.platform == platform, among(session, CustomerIdentity.external_id, ids)))
    return {external: customer for external, customer in rows}


def customers(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Customer).where(among(session, Customer.id, wanted)))}


def add_messages(session: Session, platform: str, rows: list[dict[str, object]]) -> dict[str, Message]:
    """Put messages on the timeline once (one INSERT); returns those new, by platform message id (a
    message id already on the timeline is a redelivery and left out)."""
    ids = [str(r["platform_msg_id"]) for r in rows]
    if not ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # one statement: inserted, conflicts skipped, and the new rows back as objects
        as_json = insert_json_rows(_MESSAGES, tuple(rows[0]), ("platform", "platform_msg_id"), "messages.*")
        new = session.scalars(select(Message).from_statement(as_json), {"rows": json_rows(rows)})
        return {m.platform_msg_id: m for m in new}
    # SQLite: one multi-row INSERT handing the new rows back as objects (render_nulls: every row the
    # same columns, or the ORM splits the rows into a statement per run of like rows)
    stmt = (sqlite.insert(Message).on_conflict_do_nothing(index_elements=["platform", "platform_msg_id"])
            .returning(Message).execution_options(render_nulls=True))
    return {m.platform_msg_id: m for m in session.scalars(stmt, rows)}


def transaction_cache(session: Session, name: str) -> dict[Any, Any]:
    """A dict kept in the session for as long as its current transaction lasts (a rollback or commit
    starts an empty one): what a batch looked up once and its messages then ask again and again."""
    current = session.get_transaction()
    held: tuple[object, dict[Any, Any]] | None = session.info.get(name)
    if held is None or held[0] is not current:
        held = session.info[name] = (current, {})
    return held[1]
