"""Delivery under races: a worker whose claim ran out and was taken over must neither send the card
again nor overwrite what the new holder recorded. Clocks are injected; nothing sleeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.model import Address, Card
from scheduler.delivery import DeliveryError, deliver_due
from storage.db import transaction
from storage.models import OutboxItem
from storage.queues import claim_outbox, finish_outbox, renew_outbox_claim
from tests.conftest import NOW
from tests.foundation.channels import RecordingChannel

LEASE = timedelta(seconds=120)


def _post(runtime, *cards: Card) -> None:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, NOW), cards)


def _items(runtime) -> list[OutboxItem]:
    with runtime.factory() as s:
        return list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def test_a_card_taken_over_while_the_batch_was_slow_is_not_sent_again(runtime):
    """w1 claims two cards; its first send outlasts the lease, so w2 takes both over and sends them;
    when w1 reaches the second card its claim renewal fails and it does not send it again."""
    _post(runtime, Card("第一张", recipients=("zhangsan",)), Card("第二张", recipients=("lisi",)))
    cfg = runtime.settings.delivery
    now = [NOW]
    rival = RecordingChannel(per_minute=1000)

    def slow_first_send(card: Card, address: Address) -> None:
        if card.title == "第一张":
            now[0] = NOW + LEASE * 3  # the send hung for six minutes
            deliver_due(runtime.factory, {"console": rival}, now[0], cfg, "w2", lease=LEASE)

    slow = RecordingChannel(per_minute=1000, on_send=slow_first_send)
    deliver_due(runtime.factory, {"console": slow}, NOW, cfg, "w1", lease=LEASE, clock=lambda: now[0])
    assert rival.titles() == ["第一张", "第二张"]
    assert slow.titles() == ["第一张"]  # the one already in flight; never the second
    assert [(i.status, i.attempts, i.claimed_by) for i in _items(runtime)] == [("sent", 1, None), ("sent", 1, None)]


def test_the_renewal_gives_each_send_a_full_lease(runtime):
    """Renewed right before the send: while it is in flight another worker finds nothing to claim,
    even though the batch was claimed longer ago than the lease."""
    _post(runtime, Card("第一张", recipients=("zhangsan",)), Card("第二张", recipients=("lisi",)))
    cfg = runtime.settings.delivery
    now = [NOW]
    seen: list[int] = []

    def late_second_send(card: Card, address: Address) -> None:
        if card.title == "第一张":
            now[0] = NOW + LEASE + timedelta(seconds=30)  # past the batch's first lease
        else:
            with transaction(runtime.factory) as s:
                seen.append(len(claim_outbox(s, now[0] + LEASE - timedelta(seconds=1), "w2", LEASE, 10)))

    channel = RecordingChannel(per_minute=1000, on_send=late_second_send)
    deliver_due(runtime.factory, {"console": channel}, NOW, cfg, "w1", lease=LEASE, clock=lambda: now[0])
    assert channel.titles() == ["第一张", "第二张"]
    assert seen == [0]
    assert [i.status for i in _items(runtime)] == ["sent", "sent"]


def test_a_late_failure_of_the_old_holder_does_not_bury_a_card_the_new_holder_sent(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    cfg = runtime.settings.delivery
    rival = RecordingChannel(per_minute=1000)

    def rival_sends_meanwhile(card: Card, address: Address) -> None:
        deliver_due(runtime.factory, {"console": rival}, NOW + LEASE * 2, cfg, "w2", lease=LEASE)
        raise DeliveryError("60020 not allowed", retryable=False)

    doomed = RecordingChannel(per_minute=1000, on_send=rival_sends_meanwhile)
    report = deliver_due(runtime.factory, {"console": doomed}, NOW, cfg, "w1", lease=LEASE)
    assert rival.titles() == ["提醒"]
    [item] = _items(runtime)
    assert (item.status, item.attempts, item.last_error) == ("sent", 1, None)
    assert report.dead == [item.id]  # w1 reports what it saw; the row keeps the new holder's outcome


def test_only_the_holder_renews_or_finishes_a_claim(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    with transaction(runtime.factory) as s:
        [item] = claim_outbox(s, NOW, "w1", LEASE, 10)
        item_id = item.id
    later = NOW + timedelta(seconds=30)
    with transaction(runtime.factory) as s:
        assert not renew_outbox_claim(s, item_id, "w2", later + LEASE)
        assert not finish_outbox(s, item_id, "w2", dict(status="dead", last_error="not mine"))
        assert claim_outbox(s, later, "w2", LEASE, 10) == []  # still w1's
        assert renew_outbox_claim(s, item_id, "w1", later + LEASE)
    [row] = _items(runtime)
    assert (row.status, row.claimed_by, row.next_attempt_at) == ("pending", "w1", later + LEASE)
    with transaction(runtime.factory) as s:
        assert claim_outbox(s, later + LEASE - timedelta(seconds=1), "w2", LEASE, 10) == []
        [taken] = claim_outbox(s, later + LEASE, "w2", LEASE, 10)  # due again exactly at expiry
        assert taken.claimed_by == "w2"
        assert not renew_outbox_claim(s, item_id, "w1", later + LEASE * 2)
        assert finish_outbox(s, item_id, "w2", dict(status="sent", sent_at=later + LEASE))
        assert not finish_outbox(s, item_id, "w2", dict(status="dead"))  # finished: nobody holds it now
    assert _items(runtime)[0].status == "sent"



def test_losing_one_claim_does_not_stop_the_rest_of_the_batch(runtime):
    _post(runtime, *[Card(title, recipients=(who,)) for title, who in
                     (("一", "zhangsan"), ("二", "lisi"), ("三", "wangwu"))])
    cfg = runtime.settings.delivery
    taken: list[int] = []

    def rival_takes_the_second(card: Card, address: Address) -> None:
        if card.title == "一":  # meanwhile another worker takes the two oldest claims once they run out
            now[0] = NOW + LEASE  # (the send took the whole lease: w1 renews before its next send)
            with transaction(runtime.factory) as s:
                taken.extend(row.id for row in claim_outbox(s, NOW + LEASE, "w2", LEASE, 2))

    channel = RecordingChannel(per_minute=1000, on_send=rival_takes_the_second)
    now = [NOW]
    deliver_due(runtime.factory, {"console": channel}, NOW, cfg, "w1", lease=LEASE, clock=lambda: now[0])
    assert channel.titles() == ["一", "三"]
    items = _items(runtime)
    assert taken == [items[0].id, items[1].id] and items[1].claimed_by == "w2"
    assert (items[2].status, items[2].claimed_by) == ("sent", None)


def test_what_a_failure_records_is_what_an_admin_reads(runtime):
    _post(runtime, Card("甲", recipients=("zhangsan",)), Card("乙", recipients=("lisi",)))
    # a cap on attempts (the default has none: only [delivery] retry_hours bounds retrying)
    cfg = replace(runtime.settings.delivery, max_attempts=3, retry_hours=24 * 30)
    failing = RecordingChannel(per_minute=1000, failures=[DeliveryError("45009 rate limited"),
                                                          DeliveryError("81013 invalid user", retryable=False)])
    report = deliver_due(runtime.factory, {"console": failing}, NOW, cfg, "w1", rng=lambda: 0.5)
    first, second = _items(runtime)
    assert (report.retried, report.dead) == ([first.id], [second.id])
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "45009 rate limited")
    assert (second.status, second.attempts, second.last_error) == ("dead", 1, "81013 invalid user")
    for n in range(2, cfg.max_attempts + 1):  # keeps failing: given up at max_attempts, saying so
        failing.failures.append(DeliveryError("timeout"))
        deliver_due(runtime.factory, {"console": failing}, NOW + timedelta(days=n), cfg, "w1", rng=lambda: 0.5)
    first = _items(runtime)[0]
    assert (first.status, first.attempts) == ("dead", cfg.max_attempts)
    assert first.last_error == f"timeout (after {cfg.max_attempts} attempts)"


def test_a_card_for_a_platform_without_a_channel_is_given_up_with_the_reason(runtime):
    _post(runtime, Card("提醒", recipients=("zhangsan",)))
    report = deliver_due(runtime.factory, {}, NOW, runtime.settings.delivery, "w1")
    [item] = _items(runtime)
    assert report.dead == [item.id]
    assert (item.status, item.claimed_by, item.last_error) == ("dead", None, "no console channel is configured")
