"""What counts as customer activity, and claiming a customer back from the public pool."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import create_app
from handlers.model import InboundMessage
from scheduler.inbound import process_inbound
from scheduler.jobs import run_tick
from storage import todos
from storage.db import transaction
from storage.models import Customer, OutboxItem
from tests.conftest import NOW


def _say(runtime, text: str, msg_id: str, at) -> None:
    app = create_app(runtime=runtime, clock=lambda: at)
    app.extensions["salesbot"].accept(InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan",
                                                     text=text, msg_id=msg_id, time=at))
    process_inbound(runtime.factory, runtime.settings, at, "w")


def test_a_reps_note_counts_as_activity(runtime):
    _say(runtime, "关联 华为", "m1", NOW)
    later = NOW + timedelta(days=20)
    _say(runtime, "今天电话回访了，客户很满意", "m2", later)
    with runtime.factory() as s:
        assert s.scalars(select(Customer)).one().last_activity_at == later


def test_claiming_a_public_customer_restarts_its_silence_clock(runtime):
    with transaction(runtime.factory) as s:
        s.add(Customer(name="久未联系公司", owner_id=None, status="public", silence_level=2, stage="lead",
                       created_at=NOW - timedelta(days=90), updated_at=NOW, last_activity_at=NOW - timedelta(days=60)))
    _say(runtime, "关联 久未联系公司", "m1", NOW)
    with runtime.factory() as s:
        c = s.scalars(select(Customer)).one()
        assert (c.status, c.owner_id, c.silence_level, c.last_activity_at) == ("active", "zhangsan", 0, NOW)


def test_a_claimable_todo_without_due_time_still_escalates_when_unclaimed(runtime):
    with transaction(runtime.factory) as s:
        todos.add(s, title="安排实施排期", at=NOW, actor="test", role="implementer")
    run_tick(runtime.factory, runtime.settings, NOW + timedelta(hours=runtime.settings.sla.unclaimed_hours + 1))
    with runtime.factory() as s:
        assert [o.recipient_id for o in s.scalars(select(OutboxItem))] == ["wangwu"]  # the director
