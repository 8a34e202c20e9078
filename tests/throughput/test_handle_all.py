"""An archive import or back-fill handles everything it stored, not one bounded pump."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.app import create_app
from handlers.model import InboundMessage
from scheduler.inbound import handle_all
from storage.models import InboundItem
from tests.conftest import NOW


def _pending(runtime) -> int:
    with runtime.factory() as s:
        return int(s.scalar(select(func.count(InboundItem.id)).where(InboundItem.status == "pending")) or 0)


def test_handle_all_goes_on_until_nothing_stored_is_left(runtime):
    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    state.accept_many([InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan",
                                      text=f"回访记录 {i}", msg_id=f"m{i}", time=NOW) for i in range(23)])
    clock = iter(NOW + timedelta(seconds=n) for n in range(1000))
    assert handle_all(runtime.factory, runtime.settings, lambda: next(clock), "w1", batch=5) == 23
    assert _pending(runtime) == 0
