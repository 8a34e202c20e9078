"""Customers, their platform identities, conversations and the message timeline."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.common import insert_ignore
from storage.models import Approval, Conversation, Customer, CustomerIdentity, Message, Todo
from storage.states import ApprovalStatus, CustomerStatus, TodoStatus

NAME_LENGTH = Customer.__table__.c.name.type.length  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"\s+")


def normal_name(name: str) -> str:
    """A customer name as stored and matched: NFKC, no zero-width or control characters, single spaces.

    Otherwise 华\u200b为科技 is a second customer that displays exactly like 华为科技.
    """
    text = unicodedata.normalize("NFKC", name)
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    return _WHITESPACE.sub(" ", text).strip()


_SUFFIXES = re.compile(r"(股份有限公司|有限责任公司|有限公司|集团|公司|科技|股份|[（）()\s·.\-])")


def name_key(name: str) -> str:
    """A customer name reduced for similarity: no legal suffixes, brackets or spaces, lower case."""
    return _SUFFIXES.sub("", name).lower()


def by_name(session: Session, name: str) -> Customer | None:
    stmt = select(Customer).where(Customer.name == normal_name(name)).order_by(Customer.id)
    return session.scalars(stmt).first()


def similar(session: Session, name: str, limit: int = 5) -> list[Customer]:
    """Customers whose reduced names equal, contain or are contained in this one's."""
    key = name_key(normal_name(name))
    if not key:
        return []
    rows = session.scalars(select(Customer).where(Customer.status != CustomerStatus.CLOSED).order_by(Customer.id))
    found = [c for c in rows if _alike(key, name_key(c.name))]
    return found[:limit]


def _alike(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return True
    return len(a) == len(b) >= 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def create(session: Session, name: str, owner_id: str | None, at: datetime, actor: str) -> Customer:
    """A new customer; the name is normalised (and cut to the column: commands refuse longer ones first)."""
    name = normal_name(name)[:NAME_LENGTH] or "未命名客户"
    customer = Customer(name=name, owner_id=owner_id, created_at=at, updated_at=at, last_activity_at=at,
                        stage="lead", status=CustomerStatus.ACTIVE, silence_level=0)
    session.add(customer)
    session.flush()
    audit.record(session, at, actor, "customer", customer.id, "created", None, name)
    if owner_id:
        audit.record(session, at, actor, "customer", customer.id, "owner_id", None, owner_id)
    return customer


def change_owner(session: Session, customer: Customer, owner_id: str | None, at: datetime, actor: str,
                 note: str | None = None) -> bool:
    changed = audit.set_field(session, customer, "owner_id", owner_id, at, actor, note)
    if changed:
        customer.updated_at = at
    return changed


# Built once: these run for every message handled, and building a statement costs more than running it.
_BY_IDENTITY = select(Customer).join(CustomerIdentity).where(
    CustomerIdentity.platform == bindparam("platform"), CustomerIdentity.external_id == bindparam("external_id")
).limit(1)
_CONVERSATION = select(Conversation).where(
    Conversation.platform == bindparam("platform"), Conversation.conversation_id == bindparam("conversation_id")
).limit(1)
_MESSAGE = select(Message).where(
    Message.platform == bindparam("platform"), Message.platform_msg_id == bindparam("platform_msg_id"))


def by_identity(session: Session, platform: str, external_id: str) -> Customer | None:
    return session.scalars(_BY_IDENTITY, dict(platform=platform, external_id=external_id)).first()


def add_identity(session: Session, customer: Customer, platform: str, external_id: str,
                 display_name: str | None = None) -> None:
    display_name = _fit(display_name, _DISPLAY_NAME_LENGTH)
    insert_ignore(
        session, CustomerIdentity,
        dict(customer_id=customer.id, platform=platform, external_id=external_id, display_name=display_name),
        ["platform", "external_id"],
    )


# Group titles and contact names come from the platforms (a group's members can rename it at will):
# cut to their columns and rid of NUL, which PostgreSQL text cannot hold, rather than fail the handler.
_TITLE_LENGTH = Conversation.__table__.c.title.type.length  # type: ignore[attr-defined]
_DISPLAY_NAME_LENGTH = CustomerIdentity.__table__.c.display_name.type.length  # type: ignore[attr-defined]


def _fit(text: str | None, length: int) -> str | None:
    return text.replace("\x00", "")[:length] if text else text


def conversation(session: Session, platform: str, conversation_id: str) -> Conversation | None:
    return session.scalars(_CONVERSATION, dict(platform=platform, conversation_id=conversation_id)).first()


def link_conversation(session: Session, platform: str, conversation_id: str, customer: Customer, kind: str,
                      title: str | None, at: datetime, actor: str) -> Conversation:
    """Tie a platform conversation to a customer (re-linking is audited)."""
    title = _fit(title, _TITLE_LENGTH)
    conv = conversation(session, platform, conversation_id)
    if conv is None:
        conv = Conversation(platform=platform, conversation_id=conversation_id, kind=kind, title=title,
                            created_at=at, linked_by=actor)
        session.add(conv)
        session.flush()
    audit.set_field(session, conv, "customer_id", customer.id, at, actor)
    return conv


def add_message(session: Session, values: dict[str, object]) -> Message | None:
    """Put a message on the timeline once; None if this platform message id is already there."""
    if not insert_ignore(session, Message, values, ["platform", "platform_msg_id"]):
        return None
    return session.scalars(_MESSAGE, dict(platform=values["platform"],
                                          platform_msg_id=values["platform_msg_id"])).one()


def touch(customer: Customer, at: datetime) -> None:
    """Note customer activity (resets the silent-customer clock)."""
    if customer.last_activity_at is None or customer.last_activity_at < at:
        customer.last_activity_at = at
        customer.silence_level = 0


def open_todos(session: Session, customer_id: int) -> list[Todo]:
    stmt = select(Todo).where(Todo.customer_id == customer_id, Todo.status == TodoStatus.OPEN).order_by(Todo.id)
    return list(session.scalars(stmt))


def open_approvals(session: Session, customer_id: int) -> list[Approval]:
    stmt = select(Approval).where(Approval.customer_id == customer_id, Approval.status == ApprovalStatus.PENDING)
    return list(session.scalars(stmt.order_by(Approval.id)))


def timeline(session: Session, customer_id: int, limit: int = 20) -> list[Message]:
    stmt = select(Message).where(Message.customer_id == customer_id).order_by(Message.sent_at.desc())
    return list(session.scalars(stmt.limit(limit)))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count(Customer.id))) or 0)


def silent(session: Session, level: int, before: datetime, limit: int) -> list[Customer]:
    """Active customers at this silence level whose last activity is at or before `before`, oldest first."""
    stmt = (select(Customer)
            .where(Customer.status == CustomerStatus.ACTIVE, Customer.silence_level == level, Customer.last_activity_at <= before)
            .order_by(Customer.last_activity_at, Customer.id).limit(limit))
    return list(session.scalars(stmt))


def claim_silence(session: Session, customer: Customer, level: int, before: datetime, **values: object) -> bool:
    """Move a customer from the silence level we read to `level`, only if it is still that silent."""
    result = session.execute(
        update(Customer)
        .where(Customer.id == customer.id, Customer.status == CustomerStatus.ACTIVE,
               Customer.silence_level == customer.silence_level, Customer.last_activity_at <= before)
        .values(silence_level=level, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
