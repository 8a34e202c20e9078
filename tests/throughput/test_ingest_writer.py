"""A failed store answers an error (the platform retries) and leaves the edge able to store again."""

from __future__ import annotations

import pytest

import bot.edge
from bot.app import create_app
from handlers.model import InboundMessage
from tests.conftest import NOW


def _msg(n: int) -> InboundMessage:
    return InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan", text="回访",
                          msg_id=f"m{n}", time=NOW)


def test_a_failed_store_answers_an_error_and_the_next_one_reconnects(runtime, monkeypatch):
    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    assert state.accept(_msg(1))

    real = bot.edge.store_inbound_many

    def broken(conn, rows, now):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(bot.edge, "store_inbound_many", broken)
    with pytest.raises(ConnectionError):
        state.accept(_msg(2))  # the view answers 500: the platform retries
    monkeypatch.setattr(bot.edge, "store_inbound_many", real)
    assert state.accept(_msg(2)) and not state.accept(_msg(1))



def test_the_group_commit_reconnects_when_its_connection_died(runtime):
    """Batches that follow each other share one connection; a database restart breaks it, and the next
    webhook must still be stored (on a fresh connection), not answered 500."""
    from sqlalchemy import func, select

    from bot.wecom import GroupCommit
    from storage.models import InboundItem

    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    writer = GroupCommit()
    broken = state.connect()
    broken.connection.dbapi_connection.close()  # what a server restart does to it
    writer._conn = broken  # as a previous batch would have left it for the next one
    assert writer.store(state, _msg(1)) and writer.store(state, _msg(2)) and not writer.store(state, _msg(1))
    assert writer._conn is None  # idle: returned to the pool
    with runtime.factory() as s:
        assert s.scalar(select(func.count(InboundItem.id))) == 2


def test_webhooks_arriving_during_a_write_share_the_next_commit_and_each_waits_for_it(runtime):
    """Group commit: the items queued while one batch is written go in one statement and one commit;
    every request returns (and is acknowledged) only once its own row is committed."""
    import threading
    import time

    from sqlalchemy import select

    from bot.wecom import GroupCommit
    from storage.models import InboundItem

    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    writer, batches, writing, release = GroupCommit(), [], threading.Event(), threading.Event()
    real = state.accept_many

    def accept_many(items, conn=None):
        batches.append(len(items))
        writing.set()
        assert release.wait(10)
        return real(items, conn)

    state.accept_many = accept_many
    seen: dict[int, bool] = {}

    def webhook(n: int) -> None:
        assert writer.store(state, _msg(n))
        with runtime.factory() as s:  # acknowledged now: the row must be there
            seen[n] = s.scalar(select(InboundItem.id).where(InboundItem.dedupe_key == _msg(n).dedupe_key)) is not None

    threads = [threading.Thread(target=webhook, args=(0,))]
    threads[0].start()
    assert writing.wait(10)
    threads += [threading.Thread(target=webhook, args=(n,)) for n in range(1, 6)]
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(writer._queue) < 5 and time.monotonic() < deadline:  # all five queued behind the first write
        time.sleep(0.001)
    assert not seen
    release.set()
    for t in threads:
        t.join(10)
    assert batches == [1, 5] and seen == {n: True for n in range(6)}
