"""The neutral models that cross the platform edge: InboundMessage in (events: handlers.event_model),
Card out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

PLATFORMS = ("wecom", "dingtalk", "console")
# inbound messages stored before the reply address was opaque
LEGACY_KEYS = {"reply_webhook": "reply_ref", "reply_webhook_expires": "reply_ref_expires"}


@dataclass(frozen=True)
class InboundMessage:
    """A message from any platform, as handlers see it.

    `sender` is the platform's user id (WeCom userid / external_userid, DingTalk staff id or
    sender id); `from_customer` says whether that sender is a customer rather than a member of the
    org. `msg_id` is unique per platform and is what makes redelivery harmless.
    """

    platform: str
    sender: str
    conversation: str
    text: str
    msg_id: str
    time: datetime
    from_customer: bool = False
    sender_name: str = ""
    conversation_type: str = "single"  # single group
    conversation_title: str = ""
    source: str = "app"  # app (typed to the bot) robot archive
    # Where a reply may go besides the sender's one-to-one channel, and until when: opaque,
    # platform-specific data only that platform's edge reads (DingTalk: the message's session URL).
    reply_ref: str | None = None
    reply_ref_expires: datetime | None = None
    mentions_bot: bool = True
    msg_type: str = "text"
    # a file's name, size and md5 as the archive record gives them (evidence is taken from the chat)
    file_name: str = ""
    file_size: int | None = None
    file_md5: str = ""

    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose (asdict deep-copies): every field is a plain value; this runs per webhook
        return _dump({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundMessage:
        data = {LEGACY_KEYS.get(k, k): v for k, v in data.items()}
        return cls(**_load(data, ("time", "reply_ref_expires")))

    @property
    def dedupe_key(self) -> str:
        return f"msg:{self.msg_id}"

    def reply_address(self) -> Address:
        """Where a reply to this message goes: back to the sender on the same platform. A command typed
        in a group is answered one-to-one: customers may be in the group, and replies carry internal
        figures (amounts, approvals, response packs)."""
        if self.conversation_type == "group":
            return Address(self.platform, self.sender)
        return Address(self.platform, self.sender, self.reply_ref, self.reply_ref_expires)


@dataclass(frozen=True)
class InboundEvent:
    """A raw platform event as inbound rows stored it before events were neutral (revision 0002). Only
    the platform's edge reads `data` (handlers.events.stored_event); new rows hold neutral events."""

    platform: str
    kind: str  # the platform's own name for the event
    dedupe_key: str
    time: datetime
    actor: str = ""  # platform user id of whoever caused it, when the platform says
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _dump(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InboundEvent:
        return cls(**_load(data, ("time",)))


@dataclass(frozen=True)
class Address:
    """A concrete destination on one platform; `reply_ref` is the opaque reply address a message
    carried (handlers pass it back untouched; the platform's channel decides whether to use it)."""

    platform: str
    user: str
    reply_ref: str | None = None
    reply_ref_expires: datetime | None = None
    # Set by the delivery job: the outbox row being sent and when it was queued. Every retry of a row
    # carries the same values, so channels derive ids and footers from them, not from the time of send.
    send_id: int | None = None
    queued_at: datetime | None = None


@dataclass(frozen=True)
class Button:
    """A reply command offered on a card; tapping it runs `command` as if the user typed it."""

    label: str
    command: str
    style: str = "primary"  # primary danger default


@dataclass(frozen=True)
class Card:
    """What handlers hand back: rendered natively by each platform's channel.

    `recipients` are directory user ids; `reply_to` sends the card back to the sender of a message.
    `key` identifies what the card is about (e.g. "A17") so a platform can update it later.
    """

    title: str
    lines: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    link: str | None = None
    recipients: tuple[str, ...] = ()
    reply_to: Address | None = None
    key: str | None = None
    dedupe_key: str | None = None
    # When set, the channel updates an earlier platform message identified by this reference (a WeCom
    # template card's response code, say) instead of sending a new message.
    update_ref: str | None = None
    # Outbox order when a recipient's rate limit lets only some cards through: higher first.
    priority: int = 0
    # Unsent cards with the same collapse_key to the same recipient merge into one (note receipts).
    collapse_key: str | None = None

    @property
    def asks_for_action(self) -> bool:
        return bool(self.buttons)

    def text(self) -> str:
        """Plain-text rendering shared by the console channel and text fallbacks."""
        out = [f"【{self.title}】", *self.lines]
        out += [f"{name}：{value}" for name, value in self.fields]
        if self.buttons:
            out.append("回复：" + " / ".join(f"「{b.command}」" for b in self.buttons))
        if self.link:
            out.append(self.link)
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("recipients")
        data.pop("reply_to")
        data.pop("dedupe_key")
        data.pop("priority")
        data.pop("collapse_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        return cls(
            title=data["title"],
            lines=tuple(data.get("lines", ())),
            fields=tuple((str(k), str(v)) for k, v in data.get("fields", ())),
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            link=data.get("link"),
            key=data.get("key"),
            update_ref=data.get("update_ref"),
        )


def _dump(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _load(data: dict[str, Any], time_fields: tuple[str, ...]) -> dict[str, Any]:
    out = dict(data)
    for name in time_fields:
        if out.get(name):
            out[name] = datetime.fromisoformat(out[name])
    return out
