"""The scheduler lease as two racing workers see it: held until it expires, never stolen through
another lease, taken over only once it has run out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import leases
from storage.db import transaction
from storage.models import Lease
from tests.conftest import NOW

TTL = timedelta(seconds=90)


def _acquire(runtime, name: str, holder: str, at) -> bool:
    with transaction(runtime.factory) as s:
        return leases.acquire(s, name, holder, at, TTL)


def _holders(runtime) -> dict[str, tuple[str, object]]:
    with runtime.factory() as s:
        return {row.name: (row.holder, row.expires_at) for row in s.scalars(select(Lease))}


def test_a_live_lease_is_not_taken_over_until_it_has_run_out(runtime):
    assert _acquire(runtime, "scheduler", "w1", NOW)
    assert not _acquire(runtime, "scheduler", "w2", NOW + TTL - timedelta(seconds=1))
    assert not _acquire(runtime, "scheduler", "w2", NOW + TTL)  # expires_at itself is still w1's
    assert _holders(runtime)["scheduler"] == ("w1", NOW + TTL)
    assert _acquire(runtime, "scheduler", "w2", NOW + TTL + timedelta(microseconds=1))
    assert _holders(runtime)["scheduler"] == ("w2", NOW + TTL * 2 + timedelta(microseconds=1))
    assert not _acquire(runtime, "scheduler", "w1", NOW + TTL * 2)


def test_the_holder_renews_and_keeps_it(runtime):
    assert _acquire(runtime, "scheduler", "w1", NOW)
    assert _acquire(runtime, "scheduler", "w1", NOW + timedelta(seconds=60))
    assert _holders(runtime)["scheduler"] == ("w1", NOW + timedelta(seconds=60) + TTL)
    assert not _acquire(runtime, "scheduler", "w2", NOW + TTL + timedelta(seconds=1))  # renewed: still live


def test_holding_or_outliving_one_lease_says_nothing_about_another(runtime):
    assert _acquire(runtime, "scheduler", "w1", NOW)
    assert _acquire(runtime, "archive", "w2", NOW - TTL * 2)  # w2's own lease, long expired
    # w2 holds a lease and another lease has expired: neither lets w2 take w1's live one
    assert not _acquire(runtime, "scheduler", "w2", NOW + timedelta(seconds=1))
    assert _holders(runtime) == {"scheduler": ("w1", NOW + TTL), "archive": ("w2", NOW - TTL)}
