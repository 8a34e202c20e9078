"""The outbox: cards queued with their cause, retried with backoff, rate-limited, sent once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from scheduler.delivery import DeliveryError, deliver_due
from storage.db import transaction
from storage.models import OutboxItem
from tests.conftest import NOW
from tests.foundation.channels import RecordingChannel


def _post(runtime, *cards: Card) -> None:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, NOW), cards)


def _items(runtime) -> list[OutboxItem]:
    with runtime.factory() as s:
        return list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def test_card_rolled_back_with_its_cause_is_never_sent(runtime):
    try:
        with transaction(runtime.factory) as s:
            outbox.post(Context(s, runtime.settings, NOW), [Card("风险提醒", recipients=("zhangsan",))])
            raise RuntimeError("the change that caused the card failed")
    except RuntimeError:
        pass
    assert _items(runtime) == []


def test_without_platform_credentials_cards_go_to_the_console(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan", "lisi")))
    assert [(i.channel, i.target) for i in _items(runtime)] == [("console", "zhangsan"), ("console", "lisi")]


def test_failures_back_off_then_succeed(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    channel = RecordingChannel(failures=[DeliveryError("45009 rate limited"), DeliveryError("timeout")])
    cfg = runtime.settings.delivery
    r1 = deliver_due(runtime.factory, {"console": channel}, NOW, cfg, "w1", rng=lambda: 0.5)
    assert r1.retried and not channel.sent
    first_retry = _items(runtime)[0].next_attempt_at
    assert first_retry == NOW + timedelta(seconds=cfg.backoff_base_seconds)
    # nothing happens before the retry time
    assert not deliver_due(runtime.factory, {"console": channel}, first_retry - timedelta(seconds=1), cfg, "w1").retried
    r2 = deliver_due(runtime.factory, {"console": channel}, first_retry, cfg, "w1", rng=lambda: 0.5)
    assert r2.retried
    second_retry = _items(runtime)[0].next_attempt_at
    assert second_retry - first_retry == timedelta(seconds=2 * cfg.backoff_base_seconds)  # exponential
    r3 = deliver_due(runtime.factory, {"console": channel}, second_retry, cfg, "w1")
    assert r3.sent and channel.titles() == ["提醒"]
    assert _items(runtime)[0].status == "sent"


def test_jitter_spreads_retries(runtime):
    from scheduler.delivery import backoff

    cfg = runtime.settings.delivery
    assert backoff(3, cfg, lambda: 0.0) == 0.5 * 4 * cfg.backoff_base_seconds
    assert backoff(3, cfg, lambda: 0.99) > 1.4 * 4 * cfg.backoff_base_seconds
    assert backoff(50, cfg, lambda: 0.5) == cfg.backoff_max_seconds


def test_gives_up_after_max_attempts_with_reason(runtime, caplog):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    cfg = replace(runtime.settings.delivery, max_attempts=3)  # the default is no cap, only retry_hours
    channel = RecordingChannel(failures=[DeliveryError("platform down")] * cfg.max_attempts)
    now = NOW
    for _ in range(cfg.max_attempts):
        deliver_due(runtime.factory, {"console": channel}, now, cfg, "w1")
        now += timedelta(hours=1)
    item = _items(runtime)[0]
    assert item.status == "dead" and "platform down" in (item.last_error or "")
    assert "given up" in caplog.text


def test_non_retryable_error_is_dead_at_once(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    channel = RecordingChannel(failures=[DeliveryError("user not found", retryable=False)])
    deliver_due(runtime.factory, {"console": channel}, NOW, runtime.settings.delivery, "w1")
    assert _items(runtime)[0].status == "dead"


def test_per_recipient_rate_limit_defers_the_excess(runtime):
    _post(runtime, *[Card(f"提醒{i}", recipients=("zhangsan",)) for i in range(5)])
    _post(runtime, Card("给李四", recipients=("lisi",)))
    channel = RecordingChannel(per_minute=3)
    report = deliver_due(runtime.factory, {"console": channel}, NOW, runtime.settings.delivery, "w1")
    assert channel.titles() == ["提醒0", "提醒1", "提醒2", "给李四"]
    assert len(report.deferred) == 2
    later = NOW + timedelta(minutes=1, seconds=1)
    deliver_due(runtime.factory, {"console": channel}, later, runtime.settings.delivery, "w1")
    assert channel.titles()[-2:] == ["提醒3", "提醒4"]


def test_dedupe_key_makes_posting_idempotent(runtime):
    card = Card("升级提醒", recipients=("lisi",), dedupe_key="escalate:A1:1")
    _post(runtime, card)
    _post(runtime, card)
    assert len(_items(runtime)) == 1


def test_two_workers_deliver_each_card_once(runtime):
    people = ("zhangsan", "lisi", "wangwu", "zhaoliu")
    _post(runtime, *[Card(f"卡片{i}", recipients=(people[i % 4],)) for i in range(40)])
    channel = RecordingChannel(per_minute=1000, on_send=lambda card, addr: time.sleep(0.002))
    cfg = runtime.settings.delivery

    def work(worker: str) -> None:
        for _ in range(5):
            deliver_due(runtime.factory, {"console": channel}, NOW, cfg, worker)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(channel.titles()) == sorted(f"卡片{i}" for i in range(40))
    assert all(i.status == "sent" for i in _items(runtime))


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from bot.config import load_settings
from scheduler.delivery import deliver_due
from storage.db import make_engine, make_session_factory
from tests.conftest import NOW

marker = Path(sys.argv[2])

class HangingChannel:
    name = "console"
    per_minute = 30
    def send(self, card, address, now):
        marker.write_text("sending")
        time.sleep(600)  # killed here, mid-flight

settings = load_settings(sys.argv[1], environ={})
factory = make_session_factory(make_engine(settings.database.url))
deliver_due(factory, {"console": HangingChannel()}, NOW, settings.delivery, "doomed")
"""


def test_killed_mid_delivery_the_card_goes_out_once_after_restart(runtime, tmp_path: Path):
    _post(runtime, Card("重要提醒", recipients=("zhangsan",)))
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, runtime.settings.source, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "worker exited before sending"
            assert time.monotonic() < deadline, "worker never started sending"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    channel = RecordingChannel()
    cfg = runtime.settings.delivery
    # while the dead worker's claim lasts, nobody else takes the card...
    assert not deliver_due(runtime.factory, {"console": channel}, NOW + timedelta(seconds=60), cfg, "new").sent
    # ...and once it has expired, the restarted worker sends it, once
    deliver_due(runtime.factory, {"console": channel}, NOW + timedelta(minutes=5), cfg, "new")
    deliver_due(runtime.factory, {"console": channel}, NOW + timedelta(minutes=10), cfg, "new")
    assert channel.titles() == ["重要提醒"]
    assert _items(runtime)[0].status == "sent"
