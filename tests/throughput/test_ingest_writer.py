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

