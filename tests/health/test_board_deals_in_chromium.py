"""商机漏斗 and 线索 in a real Chromium (as test_board_in_chromium.py): phone (375×812) and desktop size, no
console errors, the funnel chart drawn by the vendored ECharts, figures shown equal to the database's,
and a drill-down from the stage to the opportunity; screenshots kept under the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.health.links import login_link
from storage.models import Lead, Opportunity
from tests.conftest import Clock
from tests.health.conftest import CHROMIUM, DRIVER
from tests.health.test_board_in_chromium import _open, live

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="no browser: install Debian's chromium and chromium-driver (.ci/run does)")
__all__ = ["live"]  # the live server fixture, shared with the board's other browser test


def test_funnel_and_leads_at_phone_and_desktop_size(live: str, browser: Any, tmp_path: Path, clock: Clock,
                                                     factory: sessionmaker[Session],
                                                     deal_data: dict[str, int]) -> None:
    from selenium.webdriver.common.by import By

    shots = tmp_path / "screenshots"
    shots.mkdir()
    link = login_link("lisi", clock.now)
    assert link is not None
    browser.get(live + link[link.index("/board/login/"):])
    team = ("lisi", "zhangsan", "xiaoming")
    with factory() as s:
        in_stage = dict(s.execute(select(Opportunity.stage, func.count()).where(
            Opportunity.status == "open", Opportunity.owner_id.in_(team)).group_by(Opportunity.stage)).all())
        waiting = s.scalar(select(func.count()).select_from(Lead).where(
            Lead.status == "assigned", Lead.owner_id.in_(team)))
    _open(browser, f"{live}/board/deals", shots, "deals")
    for stage, count in in_stage.items():
        tile = browser.find_element(By.CSS_SELECTOR, f'[data-stage="{stage}"] [data-count]')
        assert tile.text == str(count), stage
    assert browser.find_element(By.ID, "deal-count").text == str(sum(in_stage.values()))
    assert browser.execute_script(
        "return !!window.echarts && !!echarts.getInstanceByDom(document.getElementById('funnel'))")
    browser.find_element(By.CSS_SELECTOR, '[data-stage="需求确认"] a').click()
    _open(browser, browser.current_url, shots, "deals-stage")
    assert [e.get_attribute("data-code") for e in browser.find_elements(By.CSS_SELECTOR, ".cards .item")] == [
        f"O{deal_data['O3']}"]
    browser.find_element(By.CSS_SELECTOR, f'a[href="/board/deals/O{deal_data["O3"]}"]').click()
    _open(browser, browser.current_url, shots, "deal")
    assert browser.find_element(By.CSS_SELECTOR, ".flag").text == "黄灯"  # 18 days in a 14-day stage
    assert browser.find_element(By.CSS_SELECTOR, ".owner").text == "张三"
    _open(browser, f"{live}/board/leads", shots, "leads")
    assert browser.find_element(By.ID, "lead-waiting").text == str(waiting)
    share = browser.find_element(By.CSS_SELECTOR, '[data-metric="lead_first_contact_share"] .n').text
    assert share == "60%"  # test_deal_metrics' hand count: 3 of 5
    assert len(list(shots.iterdir())) == 8
