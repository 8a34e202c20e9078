"""Claims on the two queues as a second worker sees them: a claimed row is leased (nobody else takes
it before the lease ends), a batch is at most `limit` rows, oldest (most overdue) first, and every
claim of an inbound item counts as an attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from storage.db import transaction
from storage.models import InboundItem, OutboxItem
from storage.queues import claim_inbound, claim_inbound_rows, claim_outbox, renew_outbox_claim, store_inbound
from tests.conftest import NOW

LEASE = timedelta(seconds=60)


def _store_inbound(runtime, n: int) -> None:
    with transaction(runtime.factory) as s:
        for i in range(n):
            store_inbound(s, "console", f"msg:m{i}", "message", {"i": i}, NOW + timedelta(seconds=i))


# the inbound job claims plain rows; claim_inbound hands out the same rows as objects
CLAIMS = pytest.mark.parametrize("claim_inbound", [claim_inbound, claim_inbound_rows], ids=["objects", "rows"])


@CLAIMS
def test_a_claimed_inbound_item_is_leased_counted_and_handed_out_oldest_first(runtime, claim_inbound):
    _store_inbound(runtime, 3)
    later = NOW + timedelta(seconds=5)
    with transaction(runtime.factory) as s:
        first = claim_inbound(s, later, "A", LEASE, limit=2)
        assert [row.payload["i"] for row in first] == [0, 1]
        assert [(row.claimed_by, row.attempts, row.available_at) for row in first] == [("A", 1, later + LEASE)] * 2
    with transaction(runtime.factory) as s:
        assert [row.payload["i"] for row in claim_inbound(s, later, "B", LEASE, limit=10)] == [2]
        assert claim_inbound(s, later + LEASE - timedelta(seconds=1), "B", LEASE, limit=10) == []
        again = claim_inbound(s, later + LEASE, "B", LEASE, limit=10)  # every lease ran out: claimed anew
        assert [(row.payload["i"], row.claimed_by, row.attempts) for row in again] == [(0, "B", 2), (1, "B", 2),
                                                                                       (2, "B", 2)]


@CLAIMS
def test_done_inbound_items_are_never_claimed_again(runtime, claim_inbound):
    _store_inbound(runtime, 1)
    with transaction(runtime.factory) as s:
        s.execute(InboundItem.__table__.update().values(status="done"))
    with transaction(runtime.factory) as s:
        assert claim_inbound(s, NOW + timedelta(days=1), "A", LEASE, limit=10) == []


def _post(runtime, *cards: Card, at=NOW) -> None:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, at), cards)


def test_an_outbox_batch_is_limited_most_overdue_first(runtime):
    _post(runtime, Card("后来的", recipients=("zhangsan",)), at=NOW)
    _post(runtime, Card("更早的", recipients=("lisi",)), at=NOW - timedelta(minutes=5))
    _post(runtime, Card("第三张", recipients=("wangwu",)), at=NOW - timedelta(minutes=1))
    with transaction(runtime.factory) as s:
        batch = claim_outbox(s, NOW, "w1", LEASE, limit=2)
        assert [row.card["title"] for row in batch] == ["更早的", "第三张"]
        assert {(row.claimed_by, row.next_attempt_at, row.claimed_until) for row in batch} == {
            ("w1", NOW + LEASE, NOW + LEASE)}
    with transaction(runtime.factory) as s:
        assert [row.card["title"] for row in claim_outbox(s, NOW, "w2", LEASE, limit=10)] == ["后来的"]
        s.execute(OutboxItem.__table__.update().values(status="sent"))
    with transaction(runtime.factory) as s:
        assert claim_outbox(s, NOW + timedelta(days=1), "w3", LEASE, limit=10) == []


def test_renewing_one_claim_leaves_the_workers_other_claims_alone(runtime):
    _post(runtime, Card("甲", recipients=("zhangsan",)), Card("乙", recipients=("lisi",)))
    with transaction(runtime.factory) as s:
        one, two = claim_outbox(s, NOW, "w1", LEASE, limit=10)
        ids = (one.id, two.id)
    with transaction(runtime.factory) as s:
        assert renew_outbox_claim(s, ids[0], "w1", NOW + LEASE * 5)
    with runtime.factory() as s:
        rows = {r.id: (r.next_attempt_at, r.claimed_until) for r in s.scalars(select(OutboxItem))}
    assert rows == {ids[0]: (NOW + LEASE * 5, NOW + LEASE * 5), ids[1]: (NOW + LEASE, NOW + LEASE)}
