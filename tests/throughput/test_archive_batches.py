"""Archived messages are handled many to a transaction; one bad message does not hold the others back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from handlers import pipeline
from handlers.model import InboundMessage
from scheduler import inbound
from scheduler.inbound import handle_all
from storage.db import transaction
from storage.models import InboundItem, Message
from storage.queues import store_inbound
from tests.conftest import NOW


def _store(runtime, n: int) -> None:
    with transaction(runtime.factory) as s:
        for i in range(n):
            msg = InboundMessage(platform="wecom", sender=f"wmC{i % 3}", conversation=f"wmC{i % 3}",
                                 text=f"客户的话 {i}", msg_id=f"a{i}", time=NOW, from_customer=True, source="archive")
            store_inbound(s, "wecom", msg.dedupe_key, "message", msg.to_dict(), NOW)


def _count(runtime, stmt) -> int:
    with runtime.factory() as s:
        return int(s.scalar(stmt) or 0)


def test_a_bad_archived_message_fails_alone_and_a_rerun_handles_nothing_twice(runtime, monkeypatch):
    monkeypatch.setattr(inbound, "ARCHIVE_BATCH", 4)
    transactions: list[int] = []
    real = inbound._handle_batch
    monkeypatch.setattr(inbound, "_handle_batch", lambda *a: transactions.append(len(a[4])) or real(*a))

    def explode(ctx, stored, customer, msg):
        if msg.msg_id == "a5":
            raise RuntimeError("bad message")
        return []

    monkeypatch.setattr(pipeline, "words_listeners", [explode])
    _store(runtime, 10)
    clock = iter(NOW + timedelta(seconds=n) for n in range(1000))
    assert handle_all(runtime.factory, runtime.settings, lambda: next(clock), "w1", batch=100) == 9
    assert transactions == [4, 4, 2]  # ten messages in three transactions
    assert _count(runtime, select(func.count(Message.id))) == 9  # all but the bad one on the timeline
    with runtime.factory() as s:
        bad = s.scalars(select(InboundItem).where(InboundItem.status == "pending")).one()
    assert "bad message" in (bad.error or "") and bad.payload["msg_id"] == "a5"
    # the bad one fixed, a later run handles it and nothing else again
    monkeypatch.setattr(pipeline, "words_listeners", [])
    later = iter(NOW + timedelta(hours=1, seconds=n) for n in range(1000))
    assert handle_all(runtime.factory, runtime.settings, lambda: next(later), "w1") == 1
    assert _count(runtime, select(func.count(Message.id))) == 10
    assert _count(runtime, select(func.count(InboundItem.id)).where(InboundItem.status != "done")) == 0


def test_a_batch_is_scanned_before_its_transaction_each_text_once(runtime, monkeypatch):
    from handlers import scanning

    in_transaction: list[bool] = []
    real_scan, real_batch = scanning._scan, inbound._handle_batch
    inside = [False]

    def counting_scan(settings, text):
        in_transaction.append(inside[0])
        return real_scan(settings, text)

    def batch(*args):
        inside[0] = True
        try:
            return real_batch(*args)
        finally:
            inside[0] = False

    monkeypatch.setattr(scanning, "_scan", counting_scan)
    monkeypatch.setattr(inbound, "_handle_batch", batch)
    _store(runtime, 6)
    assert handle_all(runtime.factory, runtime.settings, lambda: NOW, "w1") == 6
    assert in_transaction == [False] * 6


def test_an_archived_message_with_unstorable_characters_is_stored_and_handled_without_them(runtime):
    from handlers.archive import ingest
    from handlers.event_model import ArchivedMessage

    words = "友商\x00报价\ud800更低"  # NUL and a lone surrogate: PostgreSQL text holds neither
    archived = [ArchivedMessage(platform="wecom", msgid=f"u{i}", sender="wmC0", recipients=("zhangsan",), room="",
                                time=NOW, kind="text", text=words, outsiders=("wmC0",)) for i in range(2)]
    with transaction(runtime.factory) as s:
        report = ingest(s, "wecom", [archived[0], archived[1], archived[0]], NOW)
    assert (report.stored, report.duplicates) == (2, 1)
    with runtime.factory() as s:
        assert [i.payload["text"] for i in s.scalars(select(InboundItem).order_by(InboundItem.id))] == [words] * 2
    assert handle_all(runtime.factory, runtime.settings, lambda: NOW, "w1") == 2
    with runtime.factory() as s:
        assert s.scalars(select(Message.text)).all() == ["友商报价更低"] * 2
