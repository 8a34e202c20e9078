"""Neutral inbound events: what happened, in the business's terms, decoded from a platform payload at the
edge (bot/wecom*.py, bot/dingtalk*.py). Handlers only ever see these; no platform key reaches them.

Ids are the platform's own ids (a rep's WeCom userid, a customer's external_userid); handlers map
them through storage.directory (users) and storage.customers (customer identities). Every event is
stored in the inbound table as `to_dict()` and rebuilt with `event_from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

# Neutral reasons a customer hand-over failed (the edge maps the platform's codes onto these).
TRANSFER_REFUSED = "refused"  # the customer declined the new rep
TRANSFER_LIMIT = "limit_reached"  # the new rep already has as many customers as allowed


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every inbound event carries: where it came from, when, and the key that makes a redelivery
    harmless."""

    type: ClassVar[str] = ""
    platform: str
    dedupe_key: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.isoformat() if isinstance(value, datetime) else (
                list(value) if isinstance(value, tuple) else value)
        return data


@dataclass(frozen=True, kw_only=True)
class CustomerAdded(Event):
    """A rep added a customer contact. `state` is the channel the contact came through (a QR code's
    state), `display_name` the name the platform gave, if any."""

    type: ClassVar[str] = "customer_added"
    rep: str
    customer: str
    state: str = ""
    display_name: str = ""


@dataclass(frozen=True, kw_only=True)
class CustomerDeletedRep(Event):
    """The customer deleted the rep from their contacts."""

    type: ClassVar[str] = "customer_deleted_rep"
    rep: str
    customer: str


@dataclass(frozen=True, kw_only=True)
class CustomerRemovedByRep(Event):
    """The rep deleted the customer from their contacts."""

    type: ClassVar[str] = "customer_removed_by_rep"
    rep: str
    customer: str


@dataclass(frozen=True, kw_only=True)
class CustomerTransferred(Event):
    """The customer was handed from `from_rep` to another rep (`to_rep` when the platform says who)."""

    type: ClassVar[str] = "customer_transferred"
    from_rep: str
    customer: str
    to_rep: str = ""


@dataclass(frozen=True, kw_only=True)
class CustomerTransferFailed(Event):
    """A hand-over of the customer to `rep` did not happen; `reason` is TRANSFER_* or the platform's words."""

    type: ClassVar[str] = "customer_transfer_failed"
    rep: str
    customer: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class MemberLeft(Event):
    """Members left the org (`members`: their platform ids); `actor` is who did it, when known."""

    type: ClassVar[str] = "member_left"
    members: tuple[str, ...]
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class MemberChanged(Event):
    """Members' directory entries changed (department, title...)."""

    type: ClassVar[str] = "member_changed"
    members: tuple[str, ...]
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class CardTapped(Event):
    """Someone tapped a card button: run `command` as `actor`; `update_ref` lets the card be updated."""

    type: ClassVar[str] = "card_tapped"
    actor: str
    command: str
    update_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class ArchiveReady(Event):
    """New archived conversation messages can be pulled."""

    type: ClassVar[str] = "archive_ready"


EVENT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (
    CustomerAdded, CustomerDeletedRep, CustomerRemovedByRep, CustomerTransferred, CustomerTransferFailed,
    MemberLeft, MemberChanged, CardTapped, ArchiveReady)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild a stored event; raises KeyError/TypeError on something that is not one."""
    cls = EVENT_TYPES[data["type"]]
    values = {k: v for k, v in data.items() if k != "type"}
    values["time"] = datetime.fromisoformat(values["time"])
    if "members" in values:
        values["members"] = tuple(values["members"])
    return cls(**values)


def is_stored_event(data: dict[str, Any]) -> bool:
    """A stored payload written as a neutral event (rows from before 0002 hold raw platform events)."""
    return data.get("type") in EVENT_TYPES


@dataclass(frozen=True, kw_only=True)
class ArchivedMessage:
    """One message of a conversation archive, neutral. `outsiders` are the ids among sender and
    recipients that the platform marks as people outside the org (customers), before the directory
    has its say; `room` is the group chat id ("" one-to-one); `kind` text image file voice...;
    `text` what the message says, or a placeholder such as 「[图片]」."""

    platform: str
    msgid: str
    sender: str
    recipients: tuple[str, ...]
    room: str
    time: datetime
    kind: str
    text: str
    outsiders: tuple[str, ...] = ()
    file_name: str = ""
    file_size: int | None = None
    file_md5: str = ""
