"""WeCom callback events decoded into neutral events (handlers.event_model): the only place that reads
WeCom's event keys (Event, ChangeType, UserID, ExternalUserID, EventKey...)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bot.wecom_crypto import MalformedError
from handlers.event_model import (
    TRANSFER_LIMIT,
    TRANSFER_REFUSED,
    ArchiveReady,
    CardTapped,
    CustomerAdded,
    CustomerDeletedRep,
    CustomerRemovedByRep,
    CustomerTransferFailed,
    CustomerTransferred,
    Event,
    MemberChanged,
    MemberLeft,
)
from handlers.model import InboundEvent

PLATFORM = "wecom"
# Fields that tell one event from another (besides Event, FromUserName and CreateTime): customer-
# contact events all come from "sys", so without the ids two changes in the same second would collide.
EVENT_ID_FIELDS = ("ChangeType", "UserID", "ExternalUserID", "ChatId", "UpdateDetail", "TaskId", "EventKey",
                   "Source", "FailReason", "JobId")
FAIL_REASONS = {"customer_refused": TRANSFER_REFUSED, "customer_limit_exceed": TRANSFER_LIMIT}


def decode_event(f: dict[str, Any]) -> Event | None:
    """The neutral event of a decrypted MsgType=event callback; None for what the bot does not act on."""
    kind = field(f, "Event")
    if not kind:
        raise MalformedError("event without Event")
    base: dict[str, Any] = {"platform": PLATFORM, "dedupe_key": dedupe_key(f, kind), "time": create_time(f)}
    if kind == "change_external_contact":
        return _contact_change(f, base)
    if kind == "template_card_event":
        return CardTapped(**base, actor=field(f, "FromUserName"), command=field(f, "EventKey"),
                          update_ref=field(f, "ResponseCode") or None)
    if kind == "msgaudit_notify":
        return ArchiveReady(**base)
    if kind == "change_contact":  # the contacts-sync callback: a member deleted (left) or changed
        return _member_change(f, base)
    return None


def _member_change(f: dict[str, Any], base: dict[str, Any]) -> Event | None:
    change, member = field(f, "ChangeType"), field(f, "UserID")
    if not member:
        return None
    if change == "delete_user":
        return MemberLeft(**base, members=(member,), actor=field(f, "FromUserName"))
    if change == "update_user":
        return MemberChanged(**base, members=(member,), actor=field(f, "FromUserName"))
    return None


def _contact_change(f: dict[str, Any], base: dict[str, Any]) -> Event | None:
    change, rep, customer = field(f, "ChangeType"), field(f, "UserID"), field(f, "ExternalUserID")
    if not rep or not customer:
        return None
    if change == "add_external_contact":
        return CustomerAdded(**base, rep=rep, customer=customer, state=field(f, "State"))
    if change == "del_follow_user":
        return CustomerDeletedRep(**base, rep=rep, customer=customer)
    if change == "del_external_contact":
        if field(f, "Source") == "DELETE_BY_TRANSFER":
            return CustomerTransferred(**base, from_rep=rep, customer=customer)
        return CustomerRemovedByRep(**base, rep=rep, customer=customer)
    if change == "transfer_fail":
        reason = field(f, "FailReason")
        return CustomerTransferFailed(**base, rep=rep, customer=customer, reason=FAIL_REASONS.get(reason, reason))
    return None


def legacy_event(raw: InboundEvent) -> Event | None:
    """An inbound row stored before events were neutral: its data holds the callback's fields."""
    return decode_event(raw.data)


def dedupe_key(f: dict[str, Any], kind: str) -> str:
    parts = [kind, field(f, "FromUserName"), field(f, "CreateTime")] + [field(f, k) for k in EVENT_ID_FIELDS if k in f]
    key = "evt:" + ":".join(parts)
    if len(key) > 200:  # the inbound key column holds 255; keep it readable and unique
        key = key[:150] + ":" + hashlib.sha1(key.encode()).hexdigest()
    return key


def field(f: dict[str, Any], name: str) -> str:
    value = f.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def create_time(f: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(field(f, "CreateTime")), UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedError("CreateTime is not a Unix time") from None
