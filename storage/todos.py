"""To-dos: created from customers' requests (or by other features), listed, claimed and closed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.batch_lookups import among, transaction_cache
from storage.models import Todo
from storage.states import TODO, TodoStatus

_BY_DUE = (Todo.due_at.is_(None), Todo.due_at, Todo.id)  # earliest due first, undated last


def get(session: Session, todo_id: int) -> Todo | None:
    return session.get(Todo, todo_id)


def add(session: Session, *, title: str, at: datetime, actor: str, owner_id: str | None = None,
        role: str | None = None, customer_id: int | None = None, detail: str = "", due_at: datetime | None = None,
        source_rule: str | None = None, source_message_id: int | None = None) -> Todo:
    """Store an open to-do; its escalation check starts at the due time (a claimable one without a
    due time is checked from the start, so an unclaimed one still escalates)."""
    todo = Todo(title=title[:200], owner_id=owner_id, role=role, customer_id=customer_id, detail=detail,
                source_rule=source_rule, source_message_id=source_message_id, status=TodoStatus.OPEN, created_at=at,
                due_at=due_at, escalation_level=0,
                next_check_at=due_at if due_at is not None or owner_id else at)
    session.add(todo)
    session.flush()
    audit.record(session, at, actor, "todo", todo.id, "created", None, todo.title)
    loaded = _preloaded(session)
    if loaded is not None and source_rule and customer_id in loaded.customers and at >= loaded.since:
        loaded.newest[(source_rule, customer_id)] = todo  # the highest id: the newest
    return todo


def open_from_rule(session: Session, customer_id: int, rule: str, since: datetime) -> Todo | None:
    """An open to-do raised by `rule` on this customer at or after `since` (a repeated request)."""
    loaded = _preloaded(session)
    if loaded is not None and loaded.since == since and customer_id in loaded.customers:
        todo = loaded.newest.get((rule, customer_id))
        if todo is None:
            return None
        if todo.status == TodoStatus.OPEN:
            return todo
        # done meanwhile in this transaction: an older one may still be open, ask the database
    stmt = select(Todo).where(Todo.customer_id == customer_id, Todo.source_rule == rule, Todo.status == TodoStatus.OPEN,
                              Todo.created_at >= since)
    return session.scalars(stmt.order_by(Todo.id.desc()).limit(1)).first()


@dataclass
class _OpenFromRules:
    """Open rule to-dos of some customers created at or after `since`: the newest per (rule, customer)."""

    since: datetime
    customers: set[int] = field(default_factory=set)
    newest: dict[tuple[str, int], Todo] = field(default_factory=dict)


def preload_open_from_rules(session: Session, customer_ids: Collection[int], since: datetime) -> None:
    """Load in one query the open rule to-dos of these customers created at or after `since`;
    open_from_rule answers from them for the rest of the transaction (add adds the new ones)."""
    cache = transaction_cache(session, "open_rule_todos")
    loaded: _OpenFromRules | None = cache.get("todos")
    if loaded is None or loaded.since != since:
        loaded = cache["todos"] = _OpenFromRules(since)
    wanted = set(customer_ids) - loaded.customers
    if not wanted:
        return
    stmt = select(Todo).where(among(session, Todo.customer_id, wanted), Todo.source_rule.is_not(None),
                              Todo.status == TodoStatus.OPEN, Todo.created_at >= since).order_by(Todo.id)
    for todo in session.scalars(stmt):
        loaded.newest[(todo.source_rule or "", todo.customer_id or 0)] = todo  # by id: the last is the newest
    loaded.customers |= wanted


def _preloaded(session: Session) -> _OpenFromRules | None:
    loaded: _OpenFromRules | None = transaction_cache(session, "open_rule_todos").get("todos")
    return loaded


def open_for_owner(session: Session, owner_id: str) -> list[Todo]:
    stmt = select(Todo).where(Todo.owner_id == owner_id, Todo.status == TodoStatus.OPEN)
    return list(session.scalars(stmt.order_by(*_BY_DUE)))


def claimable(session: Session, role: str) -> list[Todo]:
    """Open to-dos nobody owns yet that someone with `role` may claim."""
    stmt = select(Todo).where(Todo.role == role, Todo.owner_id.is_(None), Todo.status == TodoStatus.OPEN)
    return list(session.scalars(stmt.order_by(*_BY_DUE)))


def close(session: Session, todo: Todo, at: datetime, actor: str) -> bool:
    """Mark done (nothing left to escalate); False if it was no longer open (closed meanwhile)."""
    moved = TODO.move(session, Todo, Todo.id == todo.id, source=TodoStatus.OPEN, target=TodoStatus.DONE,
                      synchronize=False, done_at=at, done_by=actor, next_check_at=None)
    session.refresh(todo)
    if not moved:
        return False
    audit.record(session, at, actor, "todo", todo.id, "status", TodoStatus.OPEN, TodoStatus.DONE)
    return True


def claim(session: Session, todo: Todo, user_id: str, at: datetime) -> bool:
    """Take an unowned to-do; False if someone else got there first (decided by the UPDATE's WHERE)."""
    result = session.execute(
        update(Todo)
        .where(Todo.id == todo.id, Todo.owner_id.is_(None), Todo.status == TodoStatus.OPEN)
        .values(owner_id=user_id, claimed_at=at, escalation_level=0, next_check_at=Todo.due_at)
        .execution_options(synchronize_session=False)
    )
    session.refresh(todo)
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    audit.record(session, at, user_id, "todo", todo.id, "owner_id", None, user_id, "claimed")
    return True


def due_for_check(session: Session, now: datetime, limit: int) -> list[Todo]:
    """Open to-dos whose next escalation check has come, earliest first."""
    stmt = (select(Todo).where(Todo.status == TodoStatus.OPEN, Todo.next_check_at <= now)
            .order_by(Todo.next_check_at, Todo.id).limit(limit))
    return list(session.scalars(stmt))


def move_escalation(session: Session, todo: Todo, from_level: int, level: int, next_check_at: datetime | None) -> bool:
    """Move a to-do from `from_level` to `level`, only if nobody changed its level or owner since we read it."""
    owner_same = Todo.owner_id == todo.owner_id if todo.owner_id else Todo.owner_id.is_(None)
    result = session.execute(
        update(Todo)
        .where(Todo.id == todo.id, Todo.status == TodoStatus.OPEN, Todo.escalation_level == from_level, owner_same)
        .values(escalation_level=level, next_check_at=next_check_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
