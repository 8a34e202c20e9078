"""One scheduler among many workers (a lease), and the tick as a plain function of time."""

from __future__ import annotations

from datetime import timedelta

from scheduler import jobs
from scheduler.runner import Worker
from tests.conftest import NOW


def _worker(runtime, name: str, clock) -> Worker:
    return Worker(runtime.factory, runtime.holder.current, {}, name, clock=clock)


def test_only_one_of_two_workers_runs_the_scheduled_checks(runtime, monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(jobs.CHECKS, "probe", lambda ctx: calls.append("ran") or ["probed"])
    now = [NOW]
    first, second = _worker(runtime, "w1", lambda: now[0]), _worker(runtime, "w2", lambda: now[0])
    assert first.tick() == ["probe: probed"]
    assert second.tick() == []
    now[0] += timedelta(seconds=60)
    assert first.tick() and not second.tick()  # the holder renews its lease
    # the holder dies: after its lease runs out the other worker takes over
    now[0] += timedelta(minutes=10)
    assert second.tick() == ["probe: probed"]
    assert first.tick() == []
    assert len(calls) == 3


def test_a_failing_check_does_not_stop_the_others(runtime, monkeypatch):
    def broken(ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(jobs.CHECKS, "broken", broken)
    monkeypatch.setitem(jobs.CHECKS, "fine", lambda ctx: ["ok"])
    lines = jobs.run_tick(runtime.factory, runtime.settings, NOW)
    assert "broken: failed (see log)" in lines and "fine: ok" in lines
