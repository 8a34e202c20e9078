"""What happens to a stored inbound item: commands, the customer timeline, scanning, events.

Every platform lands here through the same two functions, `handle_message` and `handle_event`, run by
the inbound job inside one transaction per item; the cards they raise join that transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from handlers import customers, outbox, registry
from handlers.commands import CommandCall, router
from handlers.context import Context
from handlers.event_model import Event
from handlers.events import handle_event as dispatch_event
from handlers.model import Card, InboundMessage
from storage import batch_lookups, directory
from storage import customers as repo
from storage.models import Customer, User

log = logging.getLogger(__name__)

# The listeners run over scanned words (handlers.registry lists them; tests may swap the list).
words_listeners: list[registry.WordsListener] = list(registry.WORDS_LISTENERS)
words_batch_preparers: list[registry.WordsBatchPreparer] = list(registry.WORDS_BATCH_PREPARERS)
# Called with each message before its write transaction opens: slow pure work (keyword scanning) done
# here keeps that transaction, and on SQLite the database's write lock, short.
Preparer = Callable[[Any, InboundMessage], None]
preparers: list[Preparer] = list(registry.PREPARERS)


def prepare_message(settings: Any, msg: InboundMessage) -> None:
    """Run the preparers over a message outside any transaction (their results are only a cache)."""
    for prepare in preparers:
        try:
            prepare(settings, msg)
        except Exception:
            log.exception("preparing message %s failed; it is handled without", msg.msg_id)


def handle_message(ctx: Context, msg: InboundMessage) -> None:
    """Route one inbound message and queue whatever cards it raises."""
    outbox.post(ctx, _cards_for(ctx, msg))


def handle_archived(ctx: Context, messages: list[InboundMessage]) -> None:
    """Handle archived messages of one platform together (customers' words and reps' messages from the
    archive: no commands, no replies): one query per lookup for the batch, one INSERT for the timeline,
    then the words listeners and cards per message, as handle_message would."""
    if not messages:
        return
    platform = messages[0].platform
    assert all(m.platform == platform and m.source == "archive" for m in messages)
    messages = [replace(m, text=_UNSTORABLE.sub("", m.text)) if _UNSTORABLE.search(m.text) else m for m in messages]
    users = batch_lookups.users_by_platform_id(ctx.session, platform, {m.sender for m in messages
                                                                       if not m.from_customer})
    convs = batch_lookups.conversations(ctx.session, platform, {m.conversation for m in messages})
    by_identity = batch_lookups.customers_by_identity(
        ctx.session, platform, {m.conversation for m in messages} | {m.sender for m in messages if m.from_customer})
    linked = batch_lookups.customers(ctx.session, [c.customer_id for c in convs.values() if c.customer_id]
                                     + [u.current_customer_id for u in users.values() if u.current_customer_id])
    rows: list[dict[str, object]] = []
    whose: dict[str, tuple[User | None, Customer | None]] = {}
    for msg in messages:
        user = users.get(msg.sender) if not msg.from_customer else None
        conv = convs.get(msg.conversation)
        customer = _customer_in_batch(msg, user, conv, by_identity, linked)
        whose[msg.msg_id] = (user, customer)
        rows.append(dict(platform=platform, platform_msg_id=msg.msg_id, source=msg.source,
                         conversation_id=conv.id if conv else None, customer_id=customer.id if customer else None,
                         sender=msg.sender, sender_user_id=user.id if user else None,
                         from_customer=msg.from_customer, text=msg.text, sent_at=msg.time,
                         msg_type=msg.msg_type[:16] or "text", file_name=msg.file_name or None,
                         file_size=msg.file_size, file_md5=msg.file_md5 or None))
    stored = batch_lookups.add_messages(ctx.session, platform, rows)
    # not redeliveries (already on the timeline), each message once
    fresh = [(stored.pop(m.msg_id), whose[m.msg_id][1], m) for m in messages if m.msg_id in stored]
    scanned = [item for item in fresh if item[2].from_customer]
    if scanned:
        for prepare in words_batch_preparers:
            prepare(ctx, scanned)
    for message, customer, msg in fresh:
        if customer is not None:
            repo.touch(customer, msg.time)
        if msg.from_customer:
            cards: list[Card] = []
            for listener in words_listeners:
                cards += listener(ctx, message, customer, msg)
            outbox.post(ctx, cards)


def _customer_in_batch(msg: InboundMessage, user: User | None, conv: Any, by_identity: dict[str, Customer],
                       linked: dict[int, Customer]) -> Customer | None:
    """customers.customer_for over the batch's lookups."""
    if conv is not None and conv.customer_id is not None:
        return linked.get(conv.customer_id)
    for external_id in (msg.sender if msg.from_customer else None, msg.conversation):
        if external_id and external_id in by_identity:
            return by_identity[external_id]
    if user is not None and msg.conversation_type == "single" and user.current_customer_id:
        return linked.get(user.current_customer_id)
    return None


def handle_event(ctx: Context, event: Event) -> None:
    outbox.post(ctx, dispatch_event(ctx, event))


def _cards_for(ctx: Context, msg: InboundMessage) -> list[Card]:
    user = None if msg.from_customer else directory.by_platform_id(ctx.session, msg.platform, msg.sender)
    typed_to_bot = msg.source in ("app", "robot") and not msg.from_customer
    if _UNSTORABLE.search(msg.text):
        if typed_to_bot:  # say so now, rather than fail in the database and retry for 15 minutes
            return [Card(title="消息无法处理", lines=("消息里有无法保存的不可见控制字符（如 NUL）。",
                                                 "请删除这些字符（可重新输入这段文字）后再发送。"),
                         reply_to=msg.reply_address())]
        msg = replace(msg, text=_UNSTORABLE.sub("", msg.text))  # a customer's words: keep the rest
    if typed_to_bot and user is None:
        log.info("%s message from unknown sender %r ignored", msg.platform, msg.sender)
        return [Card(title="你好", lines=("你还不在 salesbot 的通讯录中，暂时无法使用。请联系管理员把你加入。",),
                     reply_to=msg.reply_address())]
    if typed_to_bot:
        parsed = router.parse(msg.text)
        if parsed is not None:
            command, args = parsed
            return router.dispatch(CommandCall(ctx, msg, user, command.name, args))
        meant = router.suggest(msg.text)
        if meant is not None:
            return [Card(title="没有这个命令", lines=(f"你是不是想发：{meant.usage}", "发送「帮助」查看全部命令。"),
                         reply_to=msg.reply_address())]
    return _on_timeline(ctx, msg, user)


# PostgreSQL text cannot hold NUL, and no database a lone surrogate (invalid UTF-16 escapes in JSON).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _on_timeline(ctx: Context, msg: InboundMessage, user: User | None) -> list[Card]:
    customer = customers.customer_for(ctx, msg, user)
    stored = repo.add_message(ctx.session, _message_values(ctx, msg, user, customer))
    if stored is None:
        return []  # already on the timeline: a redelivery
    if customer is not None:
        # any follow-up on the timeline (the customer's words, a rep's note or message) is activity
        repo.touch(customer, msg.time)
    is_note = msg.source in ("app", "robot") and not msg.from_customer and msg.conversation_type == "single"
    cards: list[Card] = []
    if is_note:
        cards.append(_note_receipt(msg, customer))
    if msg.from_customer or is_note:
        for listener in words_listeners:
            cards += listener(ctx, stored, customer, msg)
    return cards


def _message_values(ctx: Context, msg: InboundMessage, user: User | None, customer: Customer | None) -> dict:
    source = "note" if msg.source in ("app", "robot") and not msg.from_customer else msg.source
    conv = repo.conversation(ctx.session, msg.platform, msg.conversation)
    return dict(
        platform=msg.platform, platform_msg_id=msg.msg_id, source=source,
        conversation_id=conv.id if conv else None, customer_id=customer.id if customer else None,
        sender=msg.sender, sender_user_id=user.id if user else None, from_customer=msg.from_customer,
        text=msg.text, sent_at=msg.time, msg_type=msg.msg_type[:16] or "text", file_name=msg.file_name or None,
        file_size=msg.file_size, file_md5=msg.file_md5 or None,
    )


def _note_receipt(msg: InboundMessage, customer: Customer | None) -> Card:
    if customer is None:
        return Card(title="记录已保存", lines=("还没有关联客户，这条记录暂不属于任何客户。",
                                           "发送「关联 <客户名>」后，之后的记录会记到该客户名下。"),
                    reply_to=msg.reply_address(), priority=outbox.PRIORITY_RECEIPT, collapse_key="note-receipt")
    return Card(title="已记录", lines=(f"已记到「{customer.name}」的时间线。",), reply_to=msg.reply_address(),
                priority=outbox.PRIORITY_RECEIPT, collapse_key="note-receipt")
