"""Weekly health snapshots: the tick saves each ended week's samples once (two ticks, two workers), never
a week that has not ended in the configured zone; the 健康度 trend read from them equals the live count,
and a snapshot that is missing (or taken under other settings) is computed live instead."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from handlers.context import Context
from handlers.health import metrics as m
from handlers.health import snapshots
from handlers.health.weeks import week_of
from handlers.timefmt import DEFAULT_ZONE, use_zone
from scheduler.jobs import run_tick
from storage import snapshots as repo
from storage.db import transaction
from storage.models import HealthSnapshot
from tests.conftest import Clock
from tests.health import seed
from tests.health.conftest import FRIDAY

HTTPS = "https://salesbot.example.com"
SCOPES = {"company": None, "lisi's team": {"lisi", "zhangsan", "xiaoming"}, "xiaoming": {"xiaoming"}}


@pytest.fixture
def past_weeks(factory: sessionmaker[Session], week_data: dict[str, int]) -> None:
    """Records in the two weeks before the hand-counted one (2026-W43 and W44)."""
    with transaction(factory) as s:
        c = seed.customer(s, "往期客户", "xiaoming", datetime(2026, 10, 1, tzinfo=UTC))
        seed.approval(s, c, "xiaoming", datetime(2026, 10, 20, 2, tzinfo=UTC), hold=[("lisi", 150)])
        seed.approval(s, c, "zhangsan", datetime(2026, 10, 27, 2, tzinfo=UTC), hold=[("lisi", 5)], status="rejected")
        seed.approval(s, c, "xiaoming", datetime(2026, 10, 28, 2, tzinfo=UTC), hold=[("lisi", 8), ("wangwu", 3)])
        seed.todo(s, "xiaoming", datetime(2026, 10, 26, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC),
                  datetime(2026, 10, 27, tzinfo=UTC))
        seed.todo(s, "zhangsan", datetime(2026, 10, 26, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC),
                  datetime(2026, 10, 30, tzinfo=UTC))


@pytest.fixture
def zone() -> Iterator[None]:
    yield
    use_zone(DEFAULT_ZONE)


def _save(factory: sessionmaker[Session], settings: Settings, at: datetime) -> dict[str, tuple[int, int]]:
    """What the tick's snapshot check saves at `at`: (snapshots, samples) per week that held records."""
    with transaction(factory) as s:
        return {week: found for week, found in snapshots.save_snapshots(Context(s, settings, at)).items()
                if found[1]}


def _rows(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        return sorted(s.execute(select(HealthSnapshot.week, HealthSnapshot.metric)).tuples().all())


def _computable() -> list[str]:
    return [metric.key for metric in m.METRICS if metric.compute]


@pytest.mark.usefixtures("past_weeks")
def test_the_tick_saves_each_ended_week_once(factory: sessionmaker[Session], settings: Settings) -> None:
    assert not [line for line in run_tick(factory, settings, FRIDAY) if "snapshot" in line]  # quiet bookkeeping
    weeks = [w.label for w in snapshots.ended_weeks(FRIDAY)]
    assert weeks[0] == "2026-W33" and weeks[-1] == "2026-W44" and len(weeks) == snapshots.BACKFILL_WEEKS
    saved = _rows(factory)
    assert saved == sorted((w, k) for w in weeks for k in _computable())  # empty weeks too
    assert _save(factory, settings, FRIDAY + timedelta(minutes=1)) == {}
    run_tick(factory, settings, FRIDAY + timedelta(minutes=2))
    assert _rows(factory) == saved


@pytest.mark.usefixtures("past_weeks")
def test_what_a_snapshot_holds(factory: sessionmaker[Session], settings: Settings) -> None:
    # 沉默客户 (silent since September) counts from W40 on; W43 has T5 due, W44 the three approvals and two to-dos
    n = len(_computable())  # every metric with a function, lead and opportunity ones included
    assert n == 19
    assert _save(factory, settings, FRIDAY) == {"2026-W40": (n, 1), "2026-W41": (n, 1), "2026-W42": (n, 1),
                                                "2026-W43": (n, 3), "2026-W44": (n, 23)}
    with factory() as s:
        row = s.get(HealthSnapshot, ("2026-W44", "approval_median_hours", snapshots.basis(settings)))
    assert row is not None and row.taken_at == FRIDAY
    assert row.payload == {"kind": "median", "values": {"xiaoming": [150.0, 11.0], "zhangsan": [5.0]},
                           "denominators": {}}


@pytest.mark.usefixtures("past_weeks")
def test_a_second_worker_racing_the_first_saves_nothing(factory: sessionmaker[Session], settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both workers read "nothing saved yet"; the primary key lets one in, the other's inserts are ignored."""
    assert _save(factory, settings, FRIDAY)
    with factory() as s:
        first = dict(s.execute(select(HealthSnapshot.metric, HealthSnapshot.taken_at)
                               .where(HealthSnapshot.week == "2026-W44")).tuples().all())
    monkeypatch.setattr(repo, "saved", lambda *_: set())
    assert _save(factory, settings, FRIDAY + timedelta(minutes=1)) == {}
    assert len(_rows(factory)) == snapshots.BACKFILL_WEEKS * len(_computable())
    with factory() as s:
        again = dict(s.execute(select(HealthSnapshot.metric, HealthSnapshot.taken_at)
                               .where(HealthSnapshot.week == "2026-W44")).tuples().all())
    assert again == first


def test_a_week_is_not_saved_before_it_has_ended_in_the_configured_zone(
        factory: sessionmaker[Session], settings: Settings, zone: None) -> None:
    # 2026-W45 ends Monday 2026-11-09 00:00 China time, which is Sunday 16:00 UTC
    sunday_night = datetime(2026, 11, 8, 15, 59, tzinfo=UTC)
    run_tick(factory, settings, sunday_night)
    assert "2026-W45" not in {week for week, _ in _rows(factory)}
    run_tick(factory, settings, sunday_night + timedelta(minutes=1))
    assert "2026-W45" in {week for week, _ in _rows(factory)}
    use_zone("America/New_York")  # there W46 ends Monday 2026-11-16 05:00 UTC (EST)
    run_tick(factory, settings, datetime(2026, 11, 16, 4, 59, tzinfo=UTC))
    assert "2026-W46" not in {week for week, _ in _rows(factory)}
    run_tick(factory, settings, datetime(2026, 11, 16, 5, 0, tzinfo=UTC))
    assert "2026-W46" in {week for week, _ in _rows(factory)}


@pytest.mark.usefixtures("past_weeks")
def test_figures_from_snapshots_equal_the_live_count(factory: sessionmaker[Session], settings: Settings) -> None:
    run_tick(factory, settings, FRIDAY)
    weeks = snapshots.ended_weeks(FRIDAY)[-3:]
    keys = _computable()
    with factory() as s:
        for name, scope in SCOPES.items():
            stored = snapshots.samples_by_week(s, settings, scope, weeks, keys)
            for week, samples in zip(weeks, stored, strict=True):
                live = m.compute_all(m.Query(s, scope, week, settings), keys)
                for key in keys:
                    found, expected = samples[key], live[key]
                    assert found is not None and expected is not None
                    assert found.value_for(scope) == expected.value_for(scope), (name, week.label, key)


def _trend(client: FlaskClient, path: str) -> dict[str, list[float | None]]:
    page = client.get(path, base_url=HTTPS).get_data(as_text=True)
    found = re.search(r'data-trend="([^"]+)"', page)
    assert found is not None
    trend = json.loads(found.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    return {series["name"]: series["data"] for series in trend["series"]}


@pytest.fixture
def director(app: Flask, clock: Clock, past_weeks: None) -> FlaskClient:
    from handlers.health.links import login_link

    clock.now = FRIDAY
    client = app.test_client()
    link = login_link("wangwu", FRIDAY)
    assert link is not None
    assert client.get(link[len(HTTPS):], base_url=HTTPS).status_code == 302
    return client


PAGES = ("/board/health", "/board/health/team/lisi", "/board/health/rep/xiaoming")


def test_the_trend_reads_snapshots_and_falls_back_to_live(director: FlaskClient, factory: sessionmaker[Session],
                                                          settings: Settings) -> None:
    live = {page: _trend(director, page) for page in PAGES}  # no snapshot yet: every week computed live
    assert live["/board/health/team/lisi"]["5 个工作日内审批完成"][-3:] == [None, 1.0, 0.6667]
    run_tick(factory, settings, FRIDAY)
    assert {page: _trend(director, page) for page in PAGES} == live
    with transaction(factory) as s:  # the page really reads the snapshot: alter it and the page follows
        row = s.get(HealthSnapshot, ("2026-W44", "approval_within_5wd_share", snapshots.basis(settings)))
        assert row is not None
        row.payload = {"kind": "share", "values": {"zhangsan": [0.0, 0.0, 0.0, 1.0]}, "denominators": {}}
        stale = row.digest
    assert _trend(director, "/board/health/team/lisi") == live["/board/health/team/lisi"]  # digest disowns it
    with transaction(factory) as s:
        row = s.get(HealthSnapshot, ("2026-W44", "approval_within_5wd_share", snapshots.basis(settings)))
        assert row is not None
        row.digest = repo.digest(row.payload)
    assert row.digest != stale
    assert _trend(director, "/board/health/team/lisi")["5 个工作日内审批完成"][-2] == 0.25
    with transaction(factory) as s:  # gone again: computed live, the true figure
        s.execute(delete(HealthSnapshot).where(HealthSnapshot.week == "2026-W44"))
    assert {page: _trend(director, page) for page in PAGES} == live


def test_a_snapshot_taken_under_other_settings_is_not_read(director: FlaskClient, factory: sessionmaker[Session],
                                                           settings: Settings) -> None:
    run_tick(factory, settings, FRIDAY)
    changed = replace(settings, sla=replace(settings.sla, unclaimed_hours=settings.sla.unclaimed_hours + 1))
    assert snapshots.basis(changed) != snapshots.basis(settings)
    assert snapshots.basis(replace(settings, report=replace(settings.report, hour=9))) == snapshots.basis(settings)
    with transaction(factory) as s:
        s.execute(update(HealthSnapshot).values(basis="stale"))  # as if taken before the settings changed
    live = _trend(director, "/board/health/team/lisi")
    assert live["5 个工作日内审批完成"][-3:] == [None, 1.0, 0.6667]
    assert len(_save(factory, settings, FRIDAY + timedelta(minutes=1))) == 2  # saved again under these settings


@pytest.mark.usefixtures("past_weeks")
def test_a_metric_added_later_is_backfilled_by_the_next_tick(factory: sessionmaker[Session], settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run_tick(factory, settings, FRIDAY)

    def approvals_counted(query: m.Query) -> m.Samples:
        out = m.Samples("count")
        for person, *_ in m.q.approvals_decided(query.session, query.people, query.week.start, query.week.as_of):
            out.add(person, 1)
        return out

    added = m.Metric("approvals_counted", "审批", "审批数", "count", "higher", approvals_counted)
    monkeypatch.setattr(m, "METRICS", (*m.METRICS, added))
    assert _save(factory, settings, FRIDAY + timedelta(minutes=1)) == {"2026-W44": (1, 3)}
    with factory() as s:
        w44 = snapshots.samples_by_week(s, settings, None, [week_of(FRIDAY - timedelta(weeks=1))],
                                        ["approvals_counted"])[0]["approvals_counted"]
    assert w44 is not None and w44.value_for(None) == (3.0, 3)
    assert ("2026-W33", "approvals_counted") in _rows(factory)  # an empty week is saved too
    assert _save(factory, settings, FRIDAY + timedelta(minutes=2)) == {}


def test_with_snapshots_only_the_current_week_is_queried(director: FlaskClient, factory: sessionmaker[Session],
                                                         settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    weeks: list[str] = []
    real = m.q.approvals_decided

    def counted(session: Session, people: object, start: datetime, end: datetime) -> object:
        weeks.append(week_of(start).label)
        return real(session, people, start, end)  # type: ignore[arg-type]

    monkeypatch.setattr(m.q, "approvals_decided", counted)
    _trend(director, "/board/health/team/lisi")
    assert len(weeks) == 12  # no snapshot yet: every week of the trend
    run_tick(factory, settings, FRIDAY)
    weeks.clear()
    _trend(director, "/board/health/team/lisi")
    assert weeks == ["2026-W45"]
