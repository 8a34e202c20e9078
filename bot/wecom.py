"""WeCom (企业微信): the /wecom/callback webhook, the channel that renders Cards, and the services
handlers use (contact directory, conversation archive).

The view only verifies, decrypts, stores and answers: no outgoing HTTP and no handler work happen
before WeCom gets its 200 (it retries after 5 s). Handlers run later in the inbound job.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot import wecom_directory
from bot.card_text import inert_card, inert_markdown, inert_scheme
from bot.config import Settings, WeComConfig
from bot.edge import AppState, read_body, state
from bot.inbound_limits import oversized_field
from bot.wecom_archive import finance_sdk_source
from bot.wecom_client import WeComClient, WeComError
from bot.wecom_crypto import CallbackError, MalformedError, SignatureError, WeComCrypto
from bot.wecom_events import create_time, decode_event, field, legacy_event
from handlers import archive, contacts, events
from handlers.event_model import Event
from handlers.model import Address, Card, InboundMessage
from scheduler.delivery import DeliveryError

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wecom/callback"
# A signed request older (or newer) than this is a replay, not a WeCom retry (those come within seconds).
FRESHNESS = timedelta(hours=1)


def init_app(app: Flask, app_state: AppState) -> None:
    """Register the callback route (it answers 404 until [wecom] token and encoding_aes_key are set)."""
    app.extensions["salesbot.wecom"] = GroupCommit()  # one per app: its batches go to its database
    app.add_url_rule(CALLBACK_PATH, "wecom_callback", callback, methods=["GET", "POST"])


# ---------------------------------------------------------------------------------------------- callback


def callback() -> Response | tuple[Response, int]:
    """GET: URL verification (answer the decrypted echostr). POST: store a message or event, answer 200."""
    st = state()
    cfg = st.settings.wecom
    if not (cfg.corp_id and cfg.token and cfg.encoding_aes_key):
        return _refuse(404, "wecom callback is not configured")
    crypto = _crypto(cfg.token, cfg.encoding_aes_key, cfg.corp_id)
    args = request.args
    try:
        signature = args.get("msg_signature")
        if not signature:
            raise SignatureError("missing msg_signature")
        timestamp, nonce = _arg("timestamp"), _arg("nonce")
        if request.method == "GET":
            plain = crypto.check_url(signature, timestamp, nonce, _arg("echostr"))
            _check_fresh(timestamp, st.clock())
            return Response(plain, mimetype="text/plain")
        fields = crypto.open_envelope(read_body(), signature, timestamp, nonce)
        _check_fresh(timestamp, st.clock())
        item = to_inbound(fields)
        if isinstance(item, InboundMessage) and (too_long := oversized_field(item)) is not None:
            raise MalformedError(too_long)
    except SignatureError as exc:
        return _refuse(403, str(exc))
    except CallbackError as exc:
        return _refuse(400, str(exc))
    if item is None:
        log.info("wecom callback: %s/%s acknowledged, not stored", fields.get("MsgType"), fields.get("Event", ""))
    elif not current_app.extensions["salesbot.wecom"].store(st, item):
        log.info("wecom callback: %s already stored (a retry)", item.dedupe_key)
    return Response(status=200)


class GroupCommit:
    """Stores the items of concurrent requests in shared transactions (group commit).

    Every request still waits until its own item is committed: stored before acknowledged. While one
    request's thread writes, the items of requests arriving meanwhile queue up; when the write ends,
    the first of them leads the next batch: it takes them all in one statement and one commit. On
    SQLite, the single writer, this replaces per-request BEGIN/INSERT/COMMIT and the busy-handler
    sleeps of threads queueing for the write lock; on PostgreSQL it saves commits and fsyncs.

    Each waiting thread sleeps on a lock of its own and is woken once: when its item is done, or when
    it is to lead. (One shared Condition with notify_all woke every waiting thread after each commit to
    find out whether it was done: under gthread a fifth of a worker's CPU went to those wake-ups.)
    """

    MAX_BATCH = 100

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False
        # The leaders' connection, passed from one leader to the next while batches follow each other:
        # under load no pool checkout, pre-ping or reset per batch (on PostgreSQL a round trip each).
        self._conn: Connection | None = None

    def store(self, st: AppState, item: InboundMessage | Event) -> bool:
        """True if stored now, False for a repeat; raises what storing raised (the view answers 500)."""
        mine = _Pending(item)
        with self._lock:
            self._queue.append(mine)
            lead, self._writing = not self._writing, True
        if not lead:
            mine.wake.acquire()  # released by the leader: done, or this thread leads the next batch
            if mine.done:
                return mine.outcome()
        self._lead(st, mine)
        return mine.outcome()

    def _lead(self, st: AppState, mine: _Pending) -> None:
        with self._lock:  # this thread's item is first in the queue
            batch, self._queue = self._queue[:self.MAX_BATCH], self._queue[self.MAX_BATCH:]
        try:
            self._write(st, batch)
        except BaseException as exc:  # a worker shutting down mid-write: no 200 for what may be unstored
            for pending in batch:
                if not pending.stored and pending.error is None:
                    pending.error = RuntimeError(f"store interrupted: {exc!r}")
            raise
        finally:
            for pending in batch:
                pending.done = True
                if pending is not mine:
                    pending.wake.release()
            idle = None
            with self._lock:
                if self._queue:
                    self._queue[0].wake.release()  # hand over: its thread writes what queued meanwhile
                else:
                    self._writing, idle, self._conn = False, self._conn, None
            if idle is not None:
                idle.close()  # back to the pool until webhooks queue up again


    def _write(self, st: AppState, batch: list[_Pending]) -> None:
        conn = self._conn if self._conn is not None else st.connect()
        self._conn = None
        try:
            stored = st.accept_many([p.item for p in batch], conn)
        except Exception:
            conn.invalidate()  # it may be what broke (a restarted server): the next batch connects afresh
            conn.close()
            _write(st, batch)  # each item alone, on pooled connections: one bad item fails only itself
            return
        self._conn = conn
        for pending, one in zip(batch, stored, strict=True):
            pending.stored = one


def _locked() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Pending:
    item: InboundMessage | Event
    done: bool = False
    stored: bool = False
    error: Exception | None = None
    wake: threading.Lock = dataclasses.field(default_factory=_locked)

    def outcome(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.stored


def _write(st: AppState, batch: list[_Pending]) -> None:
    try:
        for pending, stored in zip(batch, st.accept_many([p.item for p in batch]), strict=True):
            pending.stored = stored
    except Exception as exc:
        if len(batch) == 1:
            batch[0].error = exc
        else:  # one bad item must not fail the others: store them one by one
            for pending in batch:
                try:
                    pending.stored = st.accept(pending.item)
                except Exception as one:
                    pending.error = one


def _refuse(status: int, reason: str) -> tuple[Response, int]:
    """Refusals are short JSON like every other error of the service (never a traceback)."""
    log.warning("wecom callback refused with %s: %s", status, reason)
    return jsonify(error={400: "bad_request", 403: "forbidden", 404: "not_found"}.get(status, "error"),
                   message=reason), status


def _arg(name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise MalformedError(f"missing {name}")
    return value


def _check_fresh(timestamp: str, now: datetime) -> None:
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedError("timestamp is not a Unix time") from None
    if abs(now - sent) > FRESHNESS:
        raise SignatureError(f"timestamp {timestamp} is outside the freshness window (a replay?)")


@lru_cache(maxsize=8)
def _crypto(token: str, aes_key: str, corp_id: str) -> WeComCrypto:
    return WeComCrypto(token, aes_key, corp_id)


# ---------------------------------------------------------------------------------------------- inbound

MESSAGE_TYPES = ("text", "image", "voice", "video", "location", "link")


def to_inbound(f: dict[str, Any]) -> InboundMessage | Event | None:
    """The neutral item for a decrypted callback, or None for what the bot does not store."""
    msg_type = _field(f, "MsgType")
    if msg_type == "event":
        return decode_event(f)
    if msg_type in MESSAGE_TYPES:
        return _message(f, msg_type)
    return None


def _message(f: dict[str, Any], msg_type: str) -> InboundMessage:
    sender, msg_id = _field(f, "FromUserName"), _field(f, "MsgId")
    if not sender or not msg_id:
        raise MalformedError("message without FromUserName or MsgId")
    return InboundMessage(platform="wecom", sender=sender, conversation=sender, text=_text(f, msg_type),
                          msg_id=msg_id, time=_create_time(f), source="app", msg_type=msg_type)


def _text(f: dict[str, Any], msg_type: str) -> str:
    if msg_type == "text":
        return _field(f, "Content")
    if msg_type == "link":
        return f"[链接] {_field(f, 'Title')} {_field(f, 'Url')}".strip()
    if msg_type == "location":
        return f"[位置] {_field(f, 'Label')}".strip()
    return {"image": "[图片]", "voice": "[语音]", "video": "[视频]"}[msg_type]


_field, _create_time = field, create_time


# ---------------------------------------------------------------------------------------------- rendering

BUTTON_STYLES = {"primary": 1, "default": 2, "danger": 3}  # WeCom button styles 1-4; 1 is its default
TASK_ID_CHARS = re.compile(r"[^A-Za-z0-9_\-@]")


def render_message(card: Card, touser: str, agent_id: int, task_id: str | None = None) -> dict[str, Any]:
    """The message/send body: a template_card to act on, a textcard (with a link) or markdown."""
    body: dict[str, Any] = {"touser": touser, "agentid": agent_id}
    if card.asks_for_action:
        body.update(msgtype="template_card", template_card=render_template_card(card, task_id or new_task_id(card)))
    elif card.link:
        body.update(msgtype="textcard", textcard=render_textcard(card))
    else:
        body.update(msgtype="markdown", markdown={"content": render_markdown(card)})
    return body


def render_template_card(card: Card, task_id: str, replace_text: str | None = None) -> dict[str, Any]:
    """A button_interaction card: one button per Button, its key the command a tap runs. Its texts are
    plain text; quoted words lose any scheme a client could turn into a link."""
    card = inert_card(card, inert_scheme)
    fields = list(card.fields)
    lines = list(card.lines) + [f"{k}：{v}" for k, v in fields[6:]]  # at most 6 key/value rows fit
    tc: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": _cut(card.title, 36)},
        "task_id": task_id,
        "button_list": [{"text": _cut(b.label, 10), "style": BUTTON_STYLES.get(b.style, 1), "key": b.command}
                        for b in card.buttons[:6]],
    }
    if lines:
        tc["sub_title_text"] = _cut("\n".join(lines), 160)
    if fields:
        tc["horizontal_content_list"] = [{"keyname": _cut(k, 5), "value": _cut(v, 30)} for k, v in fields[:6]]
    if card.link:
        tc["card_action"] = {"type": 1, "url": card.link}
    if replace_text is not None:
        tc["replace_text"] = _cut(inert_scheme(replace_text), 10)
        if not tc["button_list"]:  # button_list is required; replace_text shows it greyed out
            tc["button_list"] = [{"text": _cut(replace_text, 10), "style": 2, "key": "-"}]
    return tc


def render_textcard(card: Card) -> dict[str, Any]:
    card = inert_card(card, inert_scheme)  # the description is HTML: escaped below as well
    rows = [*card.lines, *(f"{k}：{v}" for k, v in card.fields)]
    parts: list[str] = []
    size = 0
    for row in rows:  # whole rows only: a cut inside a tag or an entity would show as garbage
        piece = f'<div class="normal">{html.escape(_cut(row, 120))}</div>'
        size += len(piece.encode("utf-8"))
        if size > 512:
            break
        parts.append(piece)
    return {"title": _cut_bytes(card.title, 128), "description": "".join(parts), "url": card.link,
            "btntxt": "详情"}


def render_markdown(card: Card) -> str:
    card = inert_card(card, inert_markdown)  # only the card's own link stays a link
    out = [f"**{card.title}**", *card.lines]
    out += [f"> {k}：{v}" for k, v in card.fields]
    if card.link:
        out.append(f"[查看详情]({card.link})")
    return _cut_bytes("\n".join(out), 2048)


def new_task_id(card: Card, stable: str | None = None) -> str:
    """A template card's task_id: derived from the outbox row when there is one, so every retry of the
    row sends the same bytes (WeCom's duplicate check only drops identical messages)."""
    prefix = TASK_ID_CHARS.sub("", card.key or "card")[:40] or "card"
    return f"{prefix}-{stable}" if stable is not None else f"{prefix}-{uuid.uuid4().hex}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", errors="ignore") + "…"


# ---------------------------------------------------------------------------------------------- channel


class WeComChannel:
    """Sends Cards as WeCom app messages; updates a tapped template card when the Card says so."""

    name = "wecom"
    per_minute = 30  # WeCom drops (silently) more than 30 app messages a minute to one user

    def __init__(self, config: WeComConfig, client: WeComClient) -> None:
        self.config = config
        self.client = client

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        try:
            if card.update_ref:
                return self._update(card, address, now)
            return self._send(card, address, now)
        except WeComError as exc:
            raise DeliveryError(str(exc), exc.retryable, exc.retry_after) from exc

    def _send(self, card: Card, address: Address, now: datetime) -> str | None:
        body = render_message(card, address.user, self.config.agent_id, _task_id(card, address))
        _mark_row(body, address)
        # A send whose answer was lost (timeout) is retried byte for byte; WeCom drops the copy.
        body.update(enable_duplicate_check=1, duplicate_check_interval=self.config.duplicate_check_interval)
        data = self.client.post("message/send", body, now)
        if data.get("invaliduser"):
            raise WeComError(81013, f"invalid user {data['invaliduser']}", retryable=False)
        return str(data.get("response_code") or data.get("msgid") or "") or None

    def _update(self, card: Card, address: Address, now: datetime) -> str | None:
        body = {"userids": [address.user], "agentid": self.config.agent_id, "response_code": card.update_ref,
                "template_card": render_template_card(card, _task_id(card, address) or new_task_id(card),
                                                      None if card.buttons else card.title)}
        try:
            self.client.post("message/update_template_card", body, now)
        except WeComError as exc:
            if exc.retryable:
                raise
            # The code is single-use and lives 72 h: tell the tapper in a new message instead.
            log.warning("card update for %s failed (%s); sending the outcome as a new message", address.user, exc)
            return self._send(Card.from_dict({**card.to_dict(), "update_ref": None}), address, now)
        return card.update_ref


def _mark_row(body: dict[str, Any], address: Address) -> None:
    """Give markdown and textcard messages the outbox row's number: with the duplicate check on, two
    different cards that happen to read the same (two reminders) must not be dropped as one.
    Template cards differ already by task_id."""
    if address.send_id is None:
        return
    mark = f"编号 {address.send_id}"
    if body.get("msgtype") == "markdown":
        content = body["markdown"]["content"]
        body["markdown"]["content"] = _cut_bytes(content, 2048 - 64) + f'\n<font color="comment">{mark}</font>'
    elif body.get("msgtype") == "textcard":
        body["textcard"]["description"] += f'<div class="gray">{mark}</div>'


def _task_id(card: Card, address: Address) -> str | None:
    if not (card.asks_for_action or card.update_ref):
        return None
    if address.send_id is None or address.queued_at is None:
        return new_task_id(card)
    # the queue time too: task_ids must be unique for the app for ever, row ids restart with a new database
    return new_task_id(card, f"{address.send_id}-{int(address.queued_at.timestamp())}")


# ---------------------------------------------------------------------------------------------- services


class WeComContactDirectory:
    """contacts.ContactDirectory over externalcontact/get (called from the inbound job, never a request)."""

    MAX_PAGES = 10  # follow_user is paged past 500 followers

    def __init__(self, client: WeComClient) -> None:
        self.client = client

    def lookup(self, external_id: str, rep_platform_id: str) -> contacts.ExternalContact | None:
        data = self._get(external_id, "")
        if data is None:
            return None
        follow = self._follow_of(data, rep_platform_id, external_id)
        ext = data.get("external_contact") or {}
        corp = follow.get("remark_corp_name") or ext.get("corp_full_name") or ext.get("corp_name") or ""
        name = follow.get("remark") or ext.get("name") or external_id
        return contacts.ExternalContact(external_id, str(name), str(corp))

    def _follow_of(self, data: dict[str, Any], rep: str, external_id: str) -> dict[str, Any]:
        """The rep's own follow_user entry (their remark), paging through `next_cursor` if needed."""
        for _ in range(self.MAX_PAGES):
            found = next((f for f in data.get("follow_user") or [] if f.get("userid") == rep), None)
            cursor = str(data.get("next_cursor") or "")
            if found is not None or not cursor:
                return found or {}
            page = self._get(external_id, cursor)
            if page is None:
                return {}
            data = page
        return {}

    def _get(self, external_id: str, cursor: str) -> dict[str, Any] | None:
        params = {"external_userid": external_id, **({"cursor": cursor} if cursor else {})}
        try:
            return self.client.get("externalcontact/get", params)
        except WeComError as exc:
            if exc.retryable:
                raise contacts.ContactDirectoryUnavailable(str(exc)) from exc
            log.warning("externalcontact/get %s: %s", external_id, exc)
            return None


def build_channel(settings: Settings, session_factory: sessionmaker[Session]) -> WeComChannel:
    """The WeCom channel (nothing else: the services handlers use are wired by wire_services)."""
    cfg = settings.wecom
    return WeComChannel(cfg, WeComClient(cfg, session_factory))


def wire_services(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    """Give handlers WeCom's services: the contact directory, the archive source, the decoder of raw
    events stored before events were neutral. Called where the runtime is built, and on config reload."""
    cfg = settings.wecom
    events.register_legacy_decoder("wecom", legacy_event)
    if not cfg.enabled:
        contacts.register_directory("wecom", None)
        archive.register_source("wecom", None)
        return
    contact_client = WeComClient(cfg, session_factory, secret=cfg.contact_secret or cfg.secret)
    contacts.register_directory("wecom", WeComContactDirectory(contact_client))
    wecom_directory.register(contact_client, WeComClient(cfg, session_factory))
    if cfg.archive is not None and cfg.archive.sdk_path:
        archive.register_source("wecom", lambda: finance_sdk_source(cfg), cfg.archive.batch_size)
    else:
        archive.register_source("wecom", None)
