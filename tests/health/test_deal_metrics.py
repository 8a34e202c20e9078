"""The lead and opportunity metrics over a hand-counted week (tests/health/conftest.py deal_data), made
through salesbot's own transitions (assign, 已联系, 改派, the first-contact tick, stage moves, the dwell tick).

Week 2026-W45 runs from Monday 2026-11-02 00:00 China time (11-01 16:00 UTC) to Friday 09:00 UTC (now);
first_contact_hours = 24, reclaim_hours = 48, every open stage max_days = 14 (the built-in stages).

Leads (assigned → contacted, UTC):
  L7 zhangsan 11-01 10:00 → 11-02 00:00 (14 h: in time, decided this week)
  L1 zhangsan 11-02 02:00 → 05:00 (3 h)      L2 zhangsan 11-02 03:00 → 11-03 09:00 (30 h: late)
  L3 xiaoming 11-03 00:00, never: reminded 11-04 01:00, back to the pool 11-05 01:00
  L4 zhangsan 11-04 00:00, 改派 to xiaoming at 02:00 (before its limit), contacted 04:00 (2 h)
  L5 xiaoming 11-06 00:00, not yet (its 24 h have not passed: not counted)
  L6 zhangsan last week, decided last week
Opportunities (stage entries):
  O1 zhangsan 需求确认 10-20 00:00 → 方案提交 11-03 00:00 (14 days: in time)
  O2 xiaoming 需求确认 11-02 00:00 → 方案提交 11-04 12:00 (2.5 days)
  O3 zhangsan 需求确认 10-19 08:00, still there: its 14 days passed 11-02 08:00 (yellow 11-03 01:00)
  O4 zhangsan 方案提交 since 10-12 (yellow 11-03 01:00), 强制 into 价格谈判 by lisi 11-05 without 报价单
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.config import Settings
from handlers.health import metrics as m
from handlers.health.weeks import parse_week
from storage.models import AuditEntry
from tests.health.conftest import FRIDAY

TEAM = {"lisi", "zhangsan", "xiaoming"}
KEYS = ("lead_first_contact_share", "lead_first_contact_median_hours", "penetration_first_contact",
        "proposal_cycle_median_days", "penetration_stage_dwell", "pei")


def _figures(session: Session, settings: Settings, people: set[str] | None) -> dict[str, m.Figure]:
    week = parse_week("2026-W45", FRIDAY)
    samples = m.compute_all(m.Query(session, people, week, settings))
    return {f.metric.key: f for f in m.figures(samples, people, settings)}


@pytest.mark.usefixtures("deal_data")
def test_team_lead_and_deal_figures_match_the_hand_count(session: Session, settings: Settings) -> None:
    f = _figures(session, settings, TEAM)
    # decided this week: L7 ✓, L1 ✓, L2 ✗, L3 ✗, L4 (xiaoming) ✓; zhangsan's L4 moved before its limit
    assert f["lead_first_contact_share"].value == pytest.approx(3 / 5)
    assert f["lead_first_contact_share"].colour == "red"  # below the seeds' 80 % yellow line
    assert f["lead_first_contact_median_hours"].value == pytest.approx(8.5)  # 2, 3, 14, 30 h
    assert f["penetration_first_contact"].value == pytest.approx(3 / 6)  # … and zhangsan's moved L4 missed
    assert f["proposal_cycle_median_days"].value == pytest.approx((14 + 2.5) / 2)
    assert f["penetration_stage_dwell"].value == pytest.approx(2 / 3)  # O1 ✓, O2 ✓, O3 ✗ (O4 decided in Oct)
    # PEI = (L4 moved + L3 reclaimed + L2, L3 escalated + O3, O4 yellow + O4 override + its missing 报价单)
    #     ÷ (6 assignments + 4 first contacts + 3 stage moves + 1 opened)
    assert f["pei"].value == pytest.approx(8 / 14)


@pytest.mark.usefixtures("deal_data")
def test_a_rep_alone(session: Session, settings: Settings) -> None:
    z = _figures(session, settings, {"zhangsan"})
    assert z["lead_first_contact_share"].value == pytest.approx(2 / 3)  # L7, L1 in time; L2 late
    assert z["penetration_first_contact"].value == pytest.approx(2 / 4)  # + L4, moved away
    assert z["lead_first_contact_median_hours"].value == 14  # 3, 14, 30 h
    assert z["proposal_cycle_median_days"].value == 14
    assert z["penetration_stage_dwell"].value == pytest.approx(1 / 2)
    # (L4 moved, L2 escalated, 2 yellow flags, O4's override and missing 报价单) ÷ (3 + 3 + 2 stage moves)
    assert z["pei"].value == pytest.approx(6 / 8)
    x = _figures(session, settings, {"xiaoming"})
    assert x["lead_first_contact_share"].value == pytest.approx(1 / 2)  # L4 in time, L3 never
    assert x["lead_first_contact_share"].text == "50%"
    assert x["proposal_cycle_median_days"].text == "2.5 天"
    assert x["proposal_cycle_median_days"].colour == "green"  # within the seeds' 5 days


@pytest.mark.usefixtures("deal_data")
def test_company_adds_nobody_outside_the_team(session: Session, settings: Settings) -> None:
    company = _figures(session, settings, None)
    team = _figures(session, settings, TEAM)
    for key in KEYS:
        assert company[key].value == pytest.approx(team[key].value), key


@pytest.mark.usefixtures("deal_data")
def test_the_figures_follow_the_audit_log(session: Session, settings: Settings) -> None:
    """The stored rows the hand count assumes: L4's 改派 and L3's take-back are owner changes, O4's
    override is a noted stage move; the customer that moved with L4 is not a second intervention."""
    rows = session.query(AuditEntry).filter(AuditEntry.entity.in_(("lead", "opportunity", "customer"))).all()
    owners = [(r.entity, r.before, r.after, r.actor) for r in rows if r.field == "owner_id" and r.before]
    assert ("lead", "zhangsan", "xiaoming", "lisi") in owners
    assert ("lead", "xiaoming", None, "salesbot") in owners
    assert any(r.field == "stage" and (r.note or "").startswith("manual override:") for r in rows)
    week = parse_week("2026-W45", FRIDAY)
    assert m.pei(m.Query(session, {"zhangsan"}, week, settings)).value_for({"zhangsan"})[0] == pytest.approx(6 / 8)


def test_no_leads_or_deals_is_no_figure_not_zero(session: Session, settings: Settings) -> None:
    f = _figures(session, settings, TEAM)
    for key in KEYS[:-1]:
        assert (f[key].value, f[key].text, f[key].colour) == (None, "—", None), key


@pytest.mark.usefixtures("deal_data")
def test_the_friday_card_shows_them_with_last_week(factory, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from scheduler.jobs import run_tick
    from tests.health.test_weekly import _report_cards

    run_tick(factory, settings, FRIDAY)
    body = list(_report_cards(factory)["lisi"]["lines"])  # type: ignore[call-overload]
    assert "🔴 线索首次联系及时率：60%（上周 100%）" in body  # last week: L6, contacted in 14 h
    assert "🟡 线索首次联系中位时长：8.5 小时（上周 14.0 小时）" in body
    assert "🟢 方案定制周期（中位）：8.2 天（上周 —）" not in body  # 8.25 days is past the 5-day green line
    assert any(line.startswith("🟡 方案定制周期（中位）：8.") for line in body)
    assert "🔴 阶段停留：67%（上周 0%）" in body  # last week O4 sat in 方案提交 past its 14 days (10-26)
