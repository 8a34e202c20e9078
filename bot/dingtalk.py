"""DingTalk at the edge: robot messages and event subscriptions in, Cards out as markdown robot messages.

In: `/dingtalk/robot` (robot messages, HMAC-signed headers) and `/dingtalk/events` (event
subscription, SHA1 + AES envelope). Each view verifies, builds a neutral InboundMessage or event,
stores it through `state.accept` and answers; the inbound job does the rest. Stream mode
(bot/dingtalk_stream.py) feeds the same `robot_message` / `stream_event` builders.

Out: a Card becomes a markdown robot message. Buttons are `dtmd://dingtalkclient/sendMessage` links:
tapping one makes the client send the button's command to the robot as the tapper's own signed
message, so DingTalk vouches for who approved. Replies go through the message's sessionWebhook
while it is valid; anything else goes one-to-one through the OpenAPI, and to a work notification
when the robot cannot reach the person.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, abort, jsonify, request
from sqlalchemy.orm import Session, sessionmaker

from bot import dingtalk_directory
from bot.card_text import inert_card, inert_markdown
from bot.config import Settings
from bot.dingtalk_client import DingTalkClient, WebhookGone
from bot.dingtalk_sign import (
    ROBOT_SIGN_WINDOW,
    BadSignature,
    EventCrypto,
    MalformedRequest,
    check_event_fresh,
    verify_robot_sign,
)
from bot.edge import read_body
from bot.inbound_limits import oversized_field
from handlers import events
from handlers.event_model import Event, MemberChanged, MemberLeft
from handlers.model import Address, Card, InboundEvent, InboundMessage
from handlers.timefmt import display_zone
from storage.db import transaction
from storage.queues import recent_sends
from storage.signatures import claim_signature

if TYPE_CHECKING:
    from bot.edge import AppState

log = logging.getLogger(__name__)

PLATFORM = "dingtalk"
CONVERSATION_TYPES = {"1": "single", "2": "group"}
# DingTalk says a sessionWebhook lives about 90 minutes; when a message omits the expiry, assume less.
DEFAULT_WEBHOOK_LIFETIME = timedelta(minutes=60)
# Users read times in China; DingTalk's "same content once a day" counts China days too.
TAP_LINK = "dtmd://dingtalkclient/sendMessage?content="


# ---------------------------------------------------------------------------------------------- in


def init_app(app: Flask, state: AppState) -> None:
    """Register /dingtalk/robot and /dingtalk/events; they answer 404 while DingTalk is not configured."""
    bp = Blueprint("dingtalk", __name__, url_prefix="/dingtalk")
    bp.add_url_rule("/robot", "robot", lambda: robot_view(state), methods=["POST"])
    bp.add_url_rule("/events", "events", lambda: events_view(state), methods=["POST"])
    app.register_blueprint(bp)


def robot_view(state: AppState) -> tuple[Response, int]:
    """A robot message: check the sign header, store the message, answer at once."""
    config = state.settings.dingtalk
    if not config.enabled:
        abort(404, "DingTalk is not configured")
    timestamp, sign = request.headers.get("timestamp"), request.headers.get("sign")
    try:
        verify_robot_sign(timestamp, sign, config.app_secret, state.clock())
    except BadSignature as exc:
        log.warning("dingtalk robot request refused: %s", exc)
        abort(403, "bad or missing DingTalk signature")
    try:
        msg = robot_message(_json_body(read_body()), state.clock())
    except MalformedRequest as exc:
        log.warning("dingtalk robot request malformed: %s", exc)
        abort(400, str(exc))
    if (too_long := oversized_field(msg)) is not None:
        log.warning("dingtalk robot request malformed: %s", too_long)
        abort(400, too_long)
    if not _claim_signature(state, str(timestamp), str(sign), msg.msg_id):
        log.warning("dingtalk robot request refused: sign of timestamp %r reused for msgId %r", timestamp, msg.msg_id)
        abort(403, "this DingTalk signature was already used for another message")
    if not state.accept(msg):
        log.info("dingtalk robot message %s is a repeat; acknowledged", msg.msg_id)
    return jsonify({}), 200


def _claim_signature(state: AppState, timestamp: str, sign: str, msg_id: str) -> bool:
    """The robot sign covers only the timestamp: bind the header pair to this one msgId, in the database
    so every web worker sees it, for as long as the pair would pass the freshness check."""
    now = state.clock()
    with transaction(state.runtime.factory) as session:
        return claim_signature(session, timestamp, sign, msg_id, now, now + 2 * ROBOT_SIGN_WINDOW)


def events_view(state: AppState) -> tuple[Response, int]:
    """An event callback: verify, decrypt, store (check_url needs no storing), answer encrypted success."""
    config = state.settings.dingtalk
    if not (config.enabled and config.token and config.aes_key):
        abort(404, "DingTalk event subscription is not configured")
    crypto = EventCrypto(config.token, config.aes_key, config.app_key)
    args = request.args
    try:
        payload = crypto.decrypt(args.get("msg_signature") or args.get("signature"), args.get("timestamp"),
                                 args.get("nonce"), read_body())
        check_event_fresh(args.get("timestamp"), state.clock())
        event = http_event(payload, state.clock())
    except BadSignature as exc:
        log.warning("dingtalk event refused: %s", exc)
        abort(403, "bad or missing DingTalk signature")
    except MalformedRequest as exc:
        log.warning("dingtalk event malformed: %s", exc)
        abort(400, str(exc))
    if event is not None and not state.accept(event):
        log.info("dingtalk event %s is a repeat; acknowledged", event.dedupe_key)
    now_ms = int(state.clock().timestamp() * 1000)
    return jsonify(crypto.encrypt_reply("success", now_ms)), 200


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays, e.g. "[" * 2000
        raise MalformedRequest("body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedRequest("body is not a JSON object")
    return data


def robot_message(payload: dict[str, Any], now: datetime) -> InboundMessage:
    """The neutral message for a robot callback body (HTTP and Stream deliver the same JSON).

    Org members carry senderStaffId; people outside the org (a customer in a group) only senderId,
    and their words are the customer's.
    """
    msg_id = _required(payload, "msgId")
    conversation_type = CONVERSATION_TYPES.get(str(payload.get("conversationType", "")))
    if conversation_type is None:
        raise MalformedRequest(f"unknown conversationType {payload.get('conversationType')!r}")
    staff_id = payload.get("senderStaffId") or None
    sender = staff_id or _required(payload, "senderId")
    sent_at = _ms_time(payload.get("createAt")) or now
    webhook = payload.get("sessionWebhook") or None
    expires = _ms_time(payload.get("sessionWebhookExpiredTime")) or (sent_at + DEFAULT_WEBHOOK_LIFETIME)
    return InboundMessage(
        platform=PLATFORM, sender=str(sender), conversation=_required(payload, "conversationId"),
        text=message_text(payload), msg_id=msg_id, time=sent_at, from_customer=staff_id is None,
        sender_name=str(payload.get("senderNick") or ""), conversation_type=conversation_type,
        conversation_title=str(payload.get("conversationTitle") or ""), source="robot",
        reply_ref=str(webhook) if webhook else None, reply_ref_expires=expires if webhook else None,
        mentions_bot=conversation_type == "single" or bool(payload.get("isInAtList", True)),
        msg_type=str(payload.get("msgtype") or "text"),
    )


def message_text(payload: dict[str, Any]) -> str:
    """The words of a robot message: text, rich text, or a voice message's transcript."""
    kind = payload.get("msgtype") or "text"
    raw = payload.get("content")
    content: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind == "text":
        text = payload.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("content"), str):
            raise MalformedRequest("text message without text.content")
        return str(text["content"]).strip()
    if kind == "richText":
        parts = content.get("richText") or []
        return "".join(p.get("text", "") for p in parts if isinstance(p, dict)).strip()
    if kind == "audio":
        return str(content.get("recognition") or "[语音]")
    return {"picture": "[图片]", "video": "[视频]", "file": "[文件]"}.get(str(kind), f"[{kind}]")


def http_event(payload: dict[str, Any], now: datetime) -> Event | None:
    """The neutral event for a decrypted HTTP callback; None for check_url (answered, not stored) and
    for events the bot does not act on."""
    kind = payload.get("EventType")
    if not isinstance(kind, str) or not kind:
        raise MalformedRequest("event without EventType")
    if kind == "check_url":
        return None
    # Events carry no id of their own over HTTP; DingTalk resends the same JSON, so its digest is the key.
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:40]
    return decode_event(kind, f"event:{kind}:{digest}", _ms_time(payload.get("TimeStamp")) or now, payload)


def stream_event(event_type: str, event_id: str, born_ms: int | None, data: dict[str, Any],
                 now: datetime) -> Event | None:
    """The neutral event for an EVENT frame received over Stream mode."""
    return decode_event(event_type, f"event:{event_type}:{event_id}", _ms_time(born_ms) or now, data)


ORG_EVENTS: dict[str, type[MemberLeft] | type[MemberChanged]] = {"user_leave_org": MemberLeft,
                                                                 "user_modify_org": MemberChanged}


def decode_event(kind: str, key: str, at: datetime, data: dict[str, Any]) -> Event | None:
    """A DingTalk event (HTTP or Stream) in neutral terms; None for kinds the bot does not act on."""
    org_event = ORG_EVENTS.get(kind)
    if org_event is None:
        log.info("dingtalk event %r acknowledged; the bot does not act on it", kind)
        return None
    actor = str(data.get("OptStaffId") or data.get("optStaffId") or "")
    return org_event(platform=PLATFORM, dedupe_key=key, time=at, members=tuple(event_user_ids(data)), actor=actor)


def event_user_ids(data: dict[str, Any]) -> list[str]:
    """The user ids an org event is about (UserId over HTTP, userId over Stream; a list or one)."""
    for key in ("UserId", "userId", "UserIds", "userIds"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value if v]
    return []


def legacy_event(raw: InboundEvent) -> Event | None:
    """An inbound row stored before events were neutral (kind, key and time as stored; data raw)."""
    return decode_event(raw.kind, raw.dedupe_key, raw.time, raw.data)


def _required(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise MalformedRequest(f"missing {key}")
    return str(value)


def _ms_time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# ---------------------------------------------------------------------------------------------- out


def tap_link(command: str) -> str:
    """A markdown link target that makes the DingTalk client send `command` to the robot when tapped."""
    return TAP_LINK + quote(command, safe="")


def render_markdown(card: Card, footer: str | None = None, tappable: bool = True) -> str:
    """A Card as DingTalk markdown; buttons become one-tap links (or plain reply hints). Only those
    buttons and the card's own link are links: every quoted text is made inert first."""
    card = inert_card(card, inert_markdown)
    parts = [f"#### {card.title}", *card.lines]
    parts += [f"**{name}**：{value}" for name, value in card.fields]
    if card.buttons:
        hint = " / ".join(f"「{b.command}」" for b in card.buttons)
        if tappable:
            parts.append("　".join(f"[{_link_label(b.label)}]({tap_link(b.command)})" for b in card.buttons))
            parts.append(f"点按上方按钮，或直接回复：{hint}")
        else:
            parts.append(f"请在与 salesbot 机器人的单聊中回复：{hint}")
    if card.link:
        parts.append(f"[查看详情]({card.link})")
    if footer:
        parts.append(f"###### {footer}")
    return "\n\n".join(parts)


def render_work_notice(card: Card, footer: str) -> dict[str, Any]:
    """A Card as a work notification. Work-notification buttons are plain URLs and cannot carry a
    command, so commands become reply hints; a card with a link gets an action card opening it."""
    text = render_markdown(card, footer, tappable=False)
    if card.link:
        return {"msgtype": "action_card", "action_card": {"title": inert_markdown(card.title), "markdown": text,
                                                          "single_title": "查看详情", "single_url": card.link}}
    return {"msgtype": "markdown", "markdown": {"title": card.title, "text": text}}


def _link_label(label: str) -> str:
    return label.replace("[", "【").replace("]", "】")


class DingTalkChannel:
    """Sends Cards to DingTalk users (staff ids)."""

    name = PLATFORM
    per_minute = 20

    def __init__(self, settings: Settings, factory: sessionmaker[Session], client: DingTalkClient | None = None) -> None:
        self.factory = factory
        self.client = client or DingTalkClient(settings.dingtalk, factory)
        # sessionWebhook URLs come inside messages; only ever POST to DingTalk's own API hosts.
        self.webhook_hosts = {urlsplit(base).netloc for base in (settings.dingtalk.api_base,
                                                                   settings.dingtalk.openapi_base)}

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        footer = self.footer(address.user, now, address)
        text = render_markdown(card, footer)
        if self._usable_webhook(address, now) and address.reply_ref:
            try:
                self.client.reply_in_session(address.reply_ref, {"msgtype": "markdown",
                                                               "markdown": {"title": card.title, "text": text}})
                return None
            except WebhookGone as exc:
                log.info("dingtalk: %s; sending to %s one-to-one instead", exc.reason, address.user)
        result = self.client.send_robot_markdown([address.user], card.title, text, now)
        if address.user not in result.unreachable:
            return result.process_query_key or None
        log.info("dingtalk: the robot cannot reach %s; sending a work notification", address.user)
        task_id = self.client.send_work_notice([address.user], render_work_notice(card, footer), now)
        return f"notice:{task_id}"

    def _usable_webhook(self, address: Address, now: datetime) -> bool:
        # the reply address DingTalk messages carry is their sessionWebhook URL
        if not (address.reply_ref and address.reply_ref_expires and address.reply_ref_expires > now):
            return False
        if urlsplit(address.reply_ref).netloc not in self.webhook_hosts:
            log.warning("dingtalk: ignoring a sessionWebhook on an unexpected host: %s", address.reply_ref)
            return False
        return True

    def footer(self, target: str, now: datetime, address: Address | None = None) -> str:
        """What makes each message to one person differ: DingTalk silently drops the same content sent
        to the same user twice a day. For an outbox row it is the row's queue time and number, so a
        retry of the row reads exactly as its first try; otherwise send time and today's count."""
        if address is not None and address.send_id is not None and address.queued_at is not None:
            return f"{address.queued_at.astimezone(display_zone()):%m-%d %H:%M:%S} · 编号 {address.send_id}"
        local = now.astimezone(display_zone())
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        with transaction(self.factory) as session:
            count, _ = recent_sends(session, PLATFORM, target, midnight)
        return f"{local:%m-%d %H:%M:%S} · 今日第 {count + 1} 条"


def build_channel(settings: Settings, factory: sessionmaker[Session]) -> DingTalkChannel:
    return DingTalkChannel(settings, factory)


def wire_services(settings: Settings, factory: sessionmaker[Session]) -> None:
    """Give handlers DingTalk's services: the decoder of raw events stored before events were neutral."""
    events.register_legacy_decoder(PLATFORM, legacy_event)
    if settings.dingtalk.enabled:  # org sync reads the directory with the app's token
        dingtalk_directory.register(DingTalkClient(settings.dingtalk, factory))
