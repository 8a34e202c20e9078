"""The conversation archive: chats between reps and customers, pulled from an archive source.

Chats with customers never reach the callback; WeCom keeps them in its conversation archive. An
ArchiveSource (WeCom's Finance SDK in bot/wecom_archive.py, or a file of decrypted messages, decoded
there into neutral ArchivedMessages) hands over messages by seq; `pull_archive` resumes from the last stored seq (the Cursor table)
and stores each message as an inbound item, so it travels the same pipeline as every other message
(source="archive") and a message seen twice is stored once (dedupe on msgid).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from handlers.context import Context
from handlers.event_model import ArchivedMessage, ArchiveReady
from handlers.events import on_event
from handlers.model import Card, InboundMessage
from storage import directory
from storage.bulk_writes import store_inbound_batch
from storage.common import insert_ignore
from storage.db import transaction
from storage.models import Cursor

log = logging.getLogger(__name__)

MAX_BATCHES_PER_PULL = 20


@dataclass(frozen=True)
class ArchiveRecord:
    """One archived record by seq. `message` is None when it could not be decrypted (`error` says why)
    or is not a chat message worth keeping, such as a recall or a malformed record (`skipped` says why)."""

    seq: int
    message: ArchivedMessage | None
    error: str = ""
    skipped: str = ""


class ArchiveUnavailable(Exception):
    """The archive source cannot be read right now (network, SDK error); the pull is retried."""


class ArchiveSource(Protocol):
    """Decrypted archive messages in seq order."""

    @property
    def name(self) -> str:
        """Cursor name: where this source's last seq is kept."""
        ...

    def fetch(self, after_seq: int, limit: int) -> list[ArchiveRecord]:
        """Up to `limit` records with seq > after_seq, oldest first; raise ArchiveUnavailable."""
        ...


# platform -> factory of its configured source (registered by bot/, created on first use)
_source_factories: dict[str, Callable[[], ArchiveSource]] = {}
_sources: dict[str, ArchiveSource] = {}
_batch_sizes: dict[str, int] = {}
_sources_lock = threading.Lock()


def register_source(platform: str, make: Callable[[], ArchiveSource] | None, batch_size: int = 1000) -> None:
    """Configure (or with None, remove) the archive source of a platform; it is built lazily."""
    with _sources_lock:
        _sources.pop(platform, None)
        _batch_sizes[platform] = batch_size
        if make is None:
            _source_factories.pop(platform, None)
        else:
            _source_factories[platform] = make


def source_for(platform: str) -> ArchiveSource | None:
    with _sources_lock:
        if platform not in _sources and platform in _source_factories:
            _sources[platform] = _source_factories[platform]()
        return _sources.get(platform)


@on_event(ArchiveReady)
def on_archive_ready(ctx: Context, event: ArchiveReady) -> list[Card]:
    """New archived messages are ready: pull them now."""
    report = pull_configured(ctx, event.platform)
    if report is None:
        log.warning("%s: archive ready, but no archive source is configured", event.platform)
    else:
        log.info("archive pull after the archive-ready event: %s", report)
    return []


def configured_platforms() -> list[str]:
    with _sources_lock:
        return sorted(_source_factories)


def pull_configured(ctx: Context, platform: str) -> IngestReport | None:
    """Pull the platform's configured archive source from its stored seq; None if none is configured."""
    source = source_for(platform)
    if source is None:
        return None
    # The pull uses its own short transactions, and leaves ctx.session untouched, so no database lock
    # is held while the SDK waits on WeCom (SQLite would block every webhook meanwhile).
    factory = sessionmaker(bind=ctx.session.get_bind(), expire_on_commit=False)
    return pull_archive(factory, platform, source, ctx.now, _batch_sizes.get(platform, 1000))


# ---------------------------------------------------------------------------------------------- pulling


@dataclass
class IngestReport:
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    undecryptable: int = 0
    last_seq: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = f", {self.undecryptable} undecryptable" if self.undecryptable else ""
        seq = f", cursor at seq {self.last_seq}" if self.last_seq is not None else ""
        return (f"{self.stored} new messages, {self.duplicates} already stored, "
                f"{self.skipped} skipped{extra}{seq}")

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def pull_archive(factory: sessionmaker[Session], platform: str, source: ArchiveSource, now: datetime,
                 batch_size: int = 1000, max_batches: int = MAX_BATCHES_PER_PULL) -> IngestReport:
    """Fetch what is new since the stored seq and store it; the cursor moves with the messages."""
    report = IngestReport()
    for _ in range(max_batches):
        with transaction(factory) as session:
            after = cursor_position(session, source.name)
        records = source.fetch(after, batch_size)  # outside any transaction: this waits on the network
        if not records:
            break
        with transaction(factory) as session:
            for record in records:
                if record.message is None and record.error:
                    log.error("archive seq %s could not be decrypted and is skipped: %s", record.seq, record.error)
                    report.undecryptable += 1
                elif record.message is None:
                    report.skip(record.skipped or "not a customer chat message")
            ingest(session, platform, [r.message for r in records if r.message is not None], now, report)
            report.last_seq = max(r.seq for r in records)
            advance_cursor(session, source.name, report.last_seq, now)
        if len(records) < batch_size:
            break
    return report


def ingest(session: Session, platform: str, messages: Iterable[ArchivedMessage], now: datetime,
           report: IngestReport | None = None) -> IngestReport:
    """Store archived messages as inbound items (a msgid already stored is not stored again)."""
    report = report if report is not None else IngestReport()
    members = directory.member_ids(session, platform)
    items: list[tuple[str, str, str, dict]] = []
    for archived in messages:
        msg = inbound_message(archived, members)
        if msg is None:
            report.skip("not a customer chat message")
            continue
        items.append((platform, msg.dedupe_key, "message", msg.to_dict()))
    # one INSERT for them all (a pull brings up to 1,000 messages; one round trip each cost PostgreSQL
    # most of an import's time)
    for i in range(0, len(items), INGEST_ROWS):
        for stored in store_inbound_batch(session, items[i:i + INGEST_ROWS], now):
            if stored:
                report.stored += 1
            else:
                report.duplicates += 1
    return report


INGEST_ROWS = 1000  # inbound rows per INSERT


def inbound_message(archived: ArchivedMessage, members: set[str]) -> InboundMessage | None:
    """An archived message as an InboundMessage, or None for a chat between colleagues."""
    from_customer = is_customer(archived.sender, archived, members)
    if archived.room:
        conversation, kind = archived.room, "group"
    else:
        peer = archived.sender if from_customer else next(
            (t for t in archived.recipients if is_customer(t, archived, members)), None)
        if peer is None:
            return None  # colleagues talking to each other: not a customer conversation
        conversation, kind = peer, "single"
    return InboundMessage(
        platform=archived.platform, sender=archived.sender, conversation=conversation, text=archived.text,
        msg_id=archived.msgid, time=archived.time, from_customer=from_customer, conversation_type=kind,
        source="archive", msg_type=archived.kind, file_name=archived.file_name, file_size=archived.file_size,
        file_md5=archived.file_md5,
    )


def is_customer(user_id: str, archived: ArchivedMessage, members: set[str]) -> bool:
    """A customer, not a member of the org: the platform marks the id as an outsider, unless it belongs
    to someone in the directory (a WeCom employee's userid may happen to look like an external one)."""
    return user_id in archived.outsiders and user_id not in members


# ---------------------------------------------------------------------------------------------- cursor


def cursor_position(session: Session, name: str) -> int:
    row = session.get(Cursor, name)
    return row.position if row is not None else 0


def advance_cursor(session: Session, name: str, position: int, now: datetime) -> None:
    """Move the cursor forward (never back: two pulls racing both end at the furthest seq)."""
    if insert_ignore(session, Cursor, dict(name=name, position=position, updated_at=now), ["name"]):
        return
    session.execute(update(Cursor).where(Cursor.name == name, Cursor.position < position)
                    .values(position=position, updated_at=now))
