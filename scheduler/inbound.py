"""The inbound job: run handlers over messages and events that the web edge stored and acknowledged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from handlers import outbox
from handlers.context import Context
from handlers.events import stored_event
from handlers.model import Card, InboundMessage
from handlers.pipeline import handle_archived, handle_event, handle_message, prepare_message
from scheduler.settings import WorkerSettings
from storage.batch_lookups import among, plan_for_values
from storage.db import transaction
from storage.models import InboundItem
from storage.queues import claim_inbound_rows
from storage.states import InboundStatus

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def process_inbound(factory: sessionmaker[Session], settings: WorkerSettings, now: datetime, worker: str,
                    limit: int = 100, lease: timedelta = timedelta(seconds=60)) -> int:
    """Handle up to `limit` stored inbound items; returns how many were handled successfully.

    Every message is scanned before its write transaction opens. Consecutive archived messages (no
    commands, no replies) are handled ARCHIVE_BATCH to a transaction, all scanned first; everything else,
    and every item of a batch that failed, one transaction each, so one bad message cannot block the
    others."""
    with transaction(factory) as session:
        items = [(i.id, i.kind, i.payload, i.attempts) for i in claim_inbound_rows(session, now, worker, lease, limit)]
    done = 0
    chunk: list[tuple[int, str, dict, int]] = []
    for n, item in enumerate(items):
        if _batchable(item[1], item[2]):
            chunk.append(item)  # consecutive archived messages, handled in order
            if len(chunk) < ARCHIVE_BATCH and n + 1 < len(items):
                continue
        if chunk:
            done += _handle_chunk(factory, settings, now, worker, chunk)
            chunk = []
        if not _batchable(item[1], item[2]):
            done += _handle_one(factory, settings, now, worker, *item)
    return done


# archived messages handled in one transaction (one commit, one fsync on PostgreSQL, for them all)
ARCHIVE_BATCH = 500


def _batchable(kind: str, payload: dict) -> bool:
    return kind == "message" and payload.get("source") == "archive"


def _handle_chunk(factory: sessionmaker[Session], settings: WorkerSettings, now: datetime, worker: str,
                  chunk: list[tuple[int, str, dict, int]]) -> int:
    messages = [InboundMessage.from_dict(payload) for _item_id, _kind, payload, _attempts in chunk]
    for msg in messages:  # the whole batch scanned before its transaction
        prepare_message(settings, msg)
    if _handle_batch(factory, settings, now, worker, chunk, messages):
        return len(chunk)
    # one of them failed or lost its claim: the batch was rolled back, now one at a time
    return sum(_handle_one(factory, settings, now, worker, *item) for item in chunk)


def _handle_batch(factory: sessionmaker[Session], settings: WorkerSettings, now: datetime, worker: str,
                  chunk: list[tuple[int, str, dict, int]], messages: list[InboundMessage]) -> bool:
    """Handle a chunk of archived messages (and their payloads read) in one transaction; False (all
    rolled back) if any failed."""
    try:
        with transaction(factory) as session:
            plan_for_values(session)
            for platform in dict.fromkeys(m.platform for m in messages):
                handle_archived(Context(session, settings, now), [m for m in messages if m.platform == platform])
            if _mark_many(session, [i[0] for i in chunk], worker, now) != len(chunk):
                raise ClaimLost(0)
    except Exception:
        log.info("a batch of %d archived messages failed; handling them one by one", len(chunk), exc_info=True)
        return False
    return True


def _handle_one(factory: sessionmaker[Session], settings: WorkerSettings, now: datetime, worker: str,
                item_id: int, kind: str, payload: dict, attempts: int) -> bool:
    try:
        if kind == "message":  # scan before the write transaction: it stays short however long the note
            prepare_message(settings, InboundMessage.from_dict(payload))
        with transaction(factory) as session:
            _handle(Context(session, settings, now), kind, payload)
            if not _mark(session, item_id, worker, status=InboundStatus.DONE, processed_at=now, error=None):
                raise ClaimLost(item_id)
        return True
    except ClaimLost:
        # A batch can outlast the lease: another worker took this item over, so this worker's
        # work on it is rolled back (the item is handled once, by the holder of the claim).
        log.warning("inbound item %s: claim lost to another worker; its work here was rolled back", item_id)
    except Exception as exc:
        log.exception("inbound item %s failed (attempt %d)", item_id, attempts)
        _retry_later(factory, item_id, worker, attempts, now, repr(exc), settings, kind, payload)
    return False


def handle_all(factory: sessionmaker[Session], settings: WorkerSettings, clock: Callable[[], datetime], worker: str,
               batch: int = 500) -> int:
    """Handle every stored item that is due, batch after batch, not one bounded pump (an archive
    import or back-fill); items that fail wait for their retry time and end the loop."""
    total = 0
    while done := process_inbound(factory, settings, clock(), worker, limit=batch):
        total += done
    return total


def _handle(ctx: Context, kind: str, payload: dict) -> None:
    if kind == "message":
        handle_message(ctx, InboundMessage.from_dict(payload))
    else:
        event = stored_event(payload)  # a neutral event (or a raw one stored before 0002, decoded by its edge)
        if event is not None:
            handle_event(ctx, event)


class ClaimLost(Exception):
    """This worker's claim on an inbound item was taken over by another worker."""


def _mark(session: Session, item_id: int, worker: str, **values: object) -> bool:
    """Update an item this worker holds (the row stays locked until commit); False if it no longer does."""
    result = session.execute(update(InboundItem)
                             .where(InboundItem.id == item_id, InboundItem.claimed_by == worker,
                                    InboundItem.status == InboundStatus.PENDING)
                             .values(claimed_by=None, **values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _mark_many(session: Session, item_ids: list[int], worker: str, now: datetime) -> int:
    """Mark items this worker holds done; returns how many it still held."""
    result = session.execute(update(InboundItem)
                             .where(among(session, InboundItem.id, item_ids), InboundItem.claimed_by == worker,
                                    InboundItem.status == InboundStatus.PENDING)
                             .values(claimed_by=None, status=InboundStatus.DONE, processed_at=now, error=None))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _retry_later(factory: sessionmaker[Session], item_id: int, worker: str, attempts: int, now: datetime,
                 error: str, settings: WorkerSettings, kind: str, payload: dict) -> None:
    with transaction(factory) as session:
        if attempts >= MAX_ATTEMPTS:
            log.error("inbound item %s given up after %d attempts: %s", item_id, attempts, error)
            if _mark(session, item_id, worker, status=InboundStatus.FAILED, error=error, processed_at=now):
                _tell_sender_it_failed(Context(session, settings, now), kind, payload)
        else:
            _mark(session, item_id, worker, error=error, available_at=now + timedelta(seconds=30 * 2 ** attempts))


def _tell_sender_it_failed(ctx: Context, kind: str, payload: dict) -> None:
    """Someone who typed to the bot hears that it failed, rather than nothing at all."""
    if kind != "message":
        return
    msg = InboundMessage.from_dict(payload)
    if msg.from_customer or msg.source not in ("app", "robot"):
        return
    card = Card(title="处理失败", lines=(f"你发送的「{msg.text[:30]}」多次处理失败，已记录并通知管理员排查。",
                                       "请稍后重试；如果仍然不行，请联系管理员。"), reply_to=msg.reply_address())
    outbox.post(ctx, [card])
