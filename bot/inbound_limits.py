"""Platform ids that must fit their database columns, checked at the edge (400) instead of failing a
handler later (PostgreSQL refuses an over-long value; SQLite would store it, and the two would differ)."""

from __future__ import annotations

from handlers.model import InboundMessage
from storage.models import Conversation, Message


def _length(column: object) -> int:
    return int(column.type.length)  # type: ignore[attr-defined]


MSG_ID_LENGTH = _length(Message.__table__.c.platform_msg_id)
SENDER_LENGTH = _length(Message.__table__.c.sender)
CONVERSATION_LENGTH = _length(Conversation.__table__.c.conversation_id)


def oversized_field(msg: InboundMessage) -> str | None:
    """The name of the first id too long to store, or None when all fit."""
    for name, value, limit in (("msgId", msg.msg_id, MSG_ID_LENGTH), ("sender", msg.sender, SENDER_LENGTH),
                               ("conversation", msg.conversation, CONVERSATION_LENGTH)):
        if len(value) > limit:
            return f"{name} is {len(value)} characters (at most {limit})"
    return None
