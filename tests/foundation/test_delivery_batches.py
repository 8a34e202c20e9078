"""One delivery run sends at most `[delivery] batch_size` cards; the rest wait for the next run, and
the stored row a card becomes is due at once, pending, unattempted. Clocks are injected."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from scheduler.delivery import deliver_due
from storage.db import transaction
from storage.models import OutboxItem
from tests.conftest import NOW
from tests.foundation.channels import RecordingChannel


def _post(runtime, *cards: Card) -> None:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, NOW), cards)


def test_a_run_sends_one_batch_and_the_next_run_the_rest(runtime):
    _post(runtime, *(Card(f"第{n}张", recipients=("zhangsan",)) for n in range(1, 4)))
    cfg = replace(runtime.settings.delivery, batch_size=2)
    channel = RecordingChannel(per_minute=1000)
    deliver_due(runtime.factory, {"console": channel}, NOW, cfg, "w1")
    assert channel.titles() == ["第1张", "第2张"]
    deliver_due(runtime.factory, {"console": channel}, NOW, cfg, "w1")
    assert channel.titles() == ["第1张", "第2张", "第3张"]


def test_a_queued_card_is_stored_pending_unattempted_and_due_now(runtime):
    _post(runtime, Card("报价待审批", recipients=("lisi",), priority=5, dedupe_key="esc:A1:L1"))
    with runtime.factory() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert (row.status, row.attempts, row.recipient_id) == ("pending", 0, "lisi")
        assert (row.created_at, row.next_attempt_at, row.priority, row.collapsed) == (NOW, NOW, 5, 1)
        assert row.dedupe_key == "esc:A1:L1:lisi"
        assert row.card["title"] == "报价待审批"
