"""Review: an inbound item whose claim ran out while its worker was busy is handled by one worker only."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select

from handlers.model import InboundMessage
from scheduler import inbound
from scheduler.inbound import process_inbound
from storage.db import transaction
from storage.models import InboundItem, OutboxItem
from storage.queues import store_inbound
from tests.conftest import NOW


def _store(runtime, text: str, msg_id: str) -> None:
    msg = InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan", text=text,
                         msg_id=msg_id, time=NOW)
    with transaction(runtime.factory) as session:
        store_inbound(session, "console", msg.dedupe_key, "message", msg.to_dict(), NOW)


def test_an_item_taken_over_after_its_lease_ran_out_is_not_handled_twice(runtime, monkeypatch):
    _store(runtime, "关联 华为", "m1")
    _store(runtime, "关联 中兴", "m2")
    real = inbound.transaction
    calls = {"n": 0}

    @contextmanager
    def slow_batch(factory):
        # Worker A claimed both items, then spent more than the lease on the first: before A starts the
        # second, worker B (another process) finds that claim expired and takes the item over.
        calls["n"] += 1
        if calls["n"] == 3:
            monkeypatch.setattr(inbound, "transaction", real)
            assert process_inbound(runtime.factory, runtime.settings, NOW + timedelta(seconds=61), "B") == 1
        with real(factory) as session:
            yield session

    monkeypatch.setattr(inbound, "transaction", slow_batch)
    process_inbound(runtime.factory, runtime.settings, NOW, "A", lease=timedelta(seconds=60))

    with runtime.factory() as s:
        replies = [o.card["title"] for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]
        items = s.scalars(select(InboundItem).order_by(InboundItem.id)).all()
        assert [i.status for i in items] == ["done", "done"]
    assert len(replies) == 2, replies  # one reply per message, not a second one for 关联 中兴
