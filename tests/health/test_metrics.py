"""Each metric over a hand-counted week (tests/health/conftest.py week_data), per rep, team and company."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.config import Settings
from handlers.health import metrics as m
from handlers.health.scope import team_ids, visible_people
from handlers.health.weeks import parse_week
from storage import directory
from tests.health.conftest import FRIDAY, MONDAY


def _figures(session: Session, settings: Settings, people: set[str] | None) -> dict[str, m.Figure]:
    week = parse_week("2026-W45", FRIDAY)
    samples = m.compute_all(m.Query(session, people, week, settings))
    return {f.metric.key: f for f in m.figures(samples, people, settings)}


def test_week_is_monday_to_monday_china_time_up_to_now() -> None:
    week = parse_week("2026-W45", FRIDAY)
    assert (week.start, week.as_of, week.label) == (MONDAY, FRIDAY, "2026-W45")
    assert week.previous().label == "2026-W44" and week.previous().as_of == MONDAY


@pytest.mark.usefixtures("week_data")
def test_team_figures_match_the_hand_count(session: Session, settings: Settings) -> None:
    team = {"lisi", *team_ids(session, "lisi")}
    f = _figures(session, settings, team)
    assert f["approval_median_hours"].value == 30  # cycles 30 h (A), 170 h (B), 4 h (C)
    assert f["approval_within_5wd_share"].value == pytest.approx(2 / 3)  # B took more than 5 working days
    assert f["approval_step_median_hours"].value == 15  # steps held 10, 20, 170, 4 h
    assert f["approval_return_share"].value == pytest.approx(1 / 3)
    assert f["penetration_approval"].value == pytest.approx(3 / 4)  # 170 h is past the 24 h step SLA
    assert f["todo_overdue_open"].value == 2  # T3 (due Wednesday) and T5 (due in October)
    assert f["todo_closed_by_due_share"].value == pytest.approx(1 / 3)
    assert f["handoff_unclaimed"].value == 1
    assert f["penetration_handoff_claim"].value == pytest.approx(1 / 2)
    assert f["risk_open_high"].value == 1
    assert f["risk_outcome_share"].value == pytest.approx(1 / 3)
    assert f["silent_customers"].value == 1
    assert f["released_to_pool"].value == 1
    # (D's step escalated twice + T3 once + D has no note) / (3 submitted + 4 created + 4 steps + 2 closed)
    assert f["pei"].value == pytest.approx(4 / 13)


@pytest.mark.usefixtures("week_data")
def test_a_rep_alone_and_the_colours(session: Session, settings: Settings) -> None:
    f = _figures(session, settings, {"zhangsan"})
    assert f["approval_median_hours"].value == 100  # 30 and 170
    assert f["approval_within_5wd_share"].text == "50%"
    assert f["approval_within_5wd_share"].colour == "red"  # below the default yellow line of 70 %
    assert f["todo_overdue_open"].colour == "yellow"  # 2 is above green (0), within yellow (5)
    x = _figures(session, settings, {"xiaoming"})
    assert x["approval_within_5wd_share"].dot == "🟢"
    assert x["todo_overdue_open"].value == 0


def test_every_metric_is_computed_from_stored_records() -> None:
    assert [metric.key for metric in m.METRICS if metric.compute is None] == []


@pytest.mark.usefixtures("week_data")
def test_scope_is_applied_in_the_query(session: Session, settings: Settings) -> None:
    week = parse_week("2026-W45", FRIDAY)
    samples = m.approval_median_hours(m.Query(session, {"xiaoming"}, week, settings))
    assert set(samples.values) == {"xiaoming"}  # zhangsan's rows were never loaded
    zhang = directory.get_user(session, "zhangsan")
    lisi = directory.get_user(session, "lisi")
    boss = directory.get_user(session, "wangwu")
    assert zhang and lisi and boss
    assert visible_people(session, zhang) == {"zhangsan"}
    assert visible_people(session, lisi) == {"lisi", "zhangsan", "xiaoming"}
    assert visible_people(session, boss) is None
    zhang.active = False
    assert visible_people(session, zhang) == set()
