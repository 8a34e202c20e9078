"""Exactly once where WeCom allows it, and no silent dead letters through an outage."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from bot.wecom import WeComChannel
from bot.wecom_client import WeComClient
from handlers import outbox
from handlers.context import Context
from handlers.model import Button, Card
from scheduler.delivery import deliver_due
from storage.db import transaction
from storage.models import OutboxItem
from tests.conftest import NOW


def _post(runtime, *cards: Card) -> None:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, NOW), cards)


def _channel(runtime, timeout: float = 2.0) -> dict:
    cfg = replace(runtime.settings.wecom, timeout_seconds=timeout)
    return {"wecom": WeComChannel(cfg, WeComClient(cfg, runtime.factory))}


def test_a_send_whose_answer_was_lost_reaches_the_rep_once(runtime, fake_wecom):
    _post(runtime, Card("报价待审批", lines=("华为 68万",), buttons=(Button("同意", "同意 A1"),), key="A1",
                        recipients=("zhangsan",)))
    channels = _channel(runtime, timeout=0.3)
    cfg = runtime.settings.delivery
    fake_wecom.slow("message/send", 0.8)  # WeCom keeps the message but answers after our timeout
    first = deliver_due(runtime.factory, channels, NOW, cfg, "w1", rng=lambda: 0.5)
    assert first.retried
    later = NOW + timedelta(minutes=5)
    assert deliver_due(runtime.factory, channels, later, cfg, "w1", rng=lambda: 0.5).sent
    sends = fake_wecom.calls("message/send")
    assert len(sends) == 2 and sends[0].body == sends[1].body  # the retry is byte for byte the first try
    assert sends[1].json["enable_duplicate_check"] == 1
    assert len(fake_wecom.delivered) == 1  # ... so WeCom dropped it as a duplicate: one card on the phone


def test_two_cards_with_the_same_content_are_both_delivered(runtime, fake_wecom):
    _post(runtime, Card("跟进提醒", recipients=("zhangsan",)), Card("跟进提醒", recipients=("zhangsan",)))
    deliver_due(runtime.factory, _channel(runtime), NOW, runtime.settings.delivery, "w1")
    assert len(fake_wecom.delivered) == 2  # distinct rows are distinct messages, never deduplicated


def test_a_two_hour_outage_ends_with_every_card_delivered(runtime, fake_wecom):
    _post(runtime, *[Card(f"风险提醒{i}", recipients=("zhangsan",)) for i in range(5)])
    channels = _channel(runtime)
    cfg = runtime.settings.delivery
    fake_wecom.go_down("503")
    now, end_of_outage = NOW, NOW + timedelta(hours=2)
    while now < NOW + timedelta(hours=4):
        if now >= end_of_outage:
            fake_wecom.come_back()
        deliver_due(runtime.factory, channels, now, cfg, "w1")
        now += timedelta(minutes=1)
    with runtime.factory() as s:
        rows = list(s.scalars(select(OutboxItem)))
    assert {r.status for r in rows} == {"sent"}
    assert sorted(d["markdown"]["content"].split("\n")[0] for d in fake_wecom.delivered) == [
        f"**风险提醒{i}**" for i in range(5)]


def test_cards_still_failing_after_the_retry_window_are_dead_and_admins_are_told(runtime, fake_wecom):
    _post(runtime, Card("风险提醒", recipients=("zhangsan",)))
    channels = _channel(runtime)
    cfg = replace(runtime.settings.delivery, retry_hours=1)
    fake_wecom.go_down("503")
    notices: list[int] = []
    now = NOW
    while now < NOW + timedelta(hours=2):
        report = deliver_due(runtime.factory, channels, now, cfg, "w1",
                             on_dead=lambda session, dead: notices.append(dead.id))
        now += timedelta(minutes=5)
        if report.dead:
            break
    assert now <= NOW + timedelta(hours=1, minutes=10)  # given up at the end of the window, not before
    with runtime.factory() as s:
        row = s.scalars(select(OutboxItem)).one()
    assert row.status == "dead" and "503" in (row.last_error or "") and notices == [row.id]


def test_an_unknown_user_is_not_retried(runtime, fake_wecom):
    fake_wecom.invalid_users.add("zhangsan")
    _post(runtime, Card("风险提醒", recipients=("zhangsan",)))
    report = deliver_due(runtime.factory, _channel(runtime), NOW, runtime.settings.delivery, "w1")
    assert report.dead and len(fake_wecom.calls("message/send")) == 1
