"""A message that keeps failing is retried with backoff, then given up — and the sender is told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import create_app
from handlers.model import InboundMessage
from scheduler import inbound
from storage.models import InboundItem, OutboxItem
from tests.conftest import NOW


def test_a_message_that_keeps_failing_is_given_up_and_the_sender_hears_it(runtime, monkeypatch):
    def broken(ctx, msg):
        raise RuntimeError("bug in a handler")

    monkeypatch.setattr(inbound, "handle_message", broken)
    create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"].accept(
        InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan", text="报价 华为 68万",
                       msg_id="m1", time=NOW))
    now = NOW
    for _ in range(inbound.MAX_ATTEMPTS):
        assert inbound.process_inbound(runtime.factory, runtime.settings, now, "w") == 0
        now += timedelta(hours=1)  # past every backoff
    with runtime.factory() as s:
        item = s.scalars(select(InboundItem)).one()
        assert item.status == "failed" and "bug in a handler" in (item.error or "")
        [card] = s.scalars(select(OutboxItem)).all()
    assert card.target == "zhangsan" and card.card["title"] == "处理失败"
    assert "报价 华为 68万" in card.card["lines"][0]
