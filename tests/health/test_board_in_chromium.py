"""The board in a real Chromium (Debian's chromium + chromium-driver, driven by selenium): log in through
the chat's link, open every page at phone (375×812) and desktop size, check the figures shown against
the database, fail on any console error, keep screenshots under the test's tmp dir."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from handlers.health.links import login_link
from storage.models import Approval, Todo
from tests.conftest import Clock
from tests.health.conftest import CHROMIUM, DRIVER, FRIDAY

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="no browser: install Debian's chromium and chromium-driver (.ci/run does)")
SIZES = {"phone": (375, 812), "desktop": (1366, 900)}


@pytest.fixture
def live(app: Flask, clock: Clock, week_data: dict[str, int]) -> Iterator[str]:
    """The app on a real port on 127.0.0.1 (port 0), in a thread."""
    clock.now = FRIDAY
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _open(driver: Any, url: str, shots: Path, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    assert driver.find_element(By.TAG_NAME, "main")
    for size, (w, h) in SIZES.items():
        driver.set_window_size(w, h)
        wide = driver.execute_script("return document.documentElement.scrollWidth")
        assert wide <= max(w, 400), f"{name} scrolls sideways at {size}: {wide}px"
        driver.save_screenshot(str(shots / f"{name}-{size}.png"))
    assert _severe(driver) == [], name


def test_every_page_at_phone_and_desktop_size(live: str, browser: Any, tmp_path: Path, clock: Clock,
                                              factory: sessionmaker[Session], week_data: dict[str, int]) -> None:
    from selenium.webdriver.common.by import By

    shots = tmp_path / "screenshots"
    shots.mkdir()
    link = login_link("lisi", clock.now)
    assert link is not None
    browser.get(live + link[link.index("/board/login/"):])
    assert browser.current_url == f"{live}/board/"
    with factory() as s:
        open_approvals = s.scalar(select(func.count()).select_from(Approval).where(Approval.status == "pending"))
        overdue = s.scalar(select(func.count()).select_from(Todo).where(
            Todo.status == "open", Todo.owner_id.in_(("zhangsan", "xiaoming", "lisi")), Todo.due_at < FRIDAY))
    assert browser.find_element(By.ID, "approval-count").text == str(open_approvals)
    stuck = browser.find_elements(By.CSS_SELECTOR, ".item .holder")[0].text
    assert stuck == "王五"  # D, the approval stuck longest, waits on 王五
    _open(browser, f"{live}/board/", shots, "approvals")
    _open(browser, f"{live}/board/todos", shots, "todos")
    assert browser.find_element(By.ID, "todo-count").text == str(overdue)
    _open(browser, f"{live}/board/risks", shots, "risks")
    _open(browser, f"{live}/board/health/team/lisi", shots, "health-team")
    tile = browser.find_element(By.CSS_SELECTOR, '[data-metric="approval_within_5wd_share"] .n').text
    assert tile == "67%"
    assert browser.execute_script("return !!window.echarts && !!echarts.getInstanceByDom(document.getElementById('trend'))")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/board/health/rep/xiaoming"]').click()
    assert browser.current_url.endswith("/board/health/rep/xiaoming")
    _open(browser, browser.current_url, shots, "health-rep")
    browser.find_element(By.CSS_SELECTOR, f'a[href="/board/approvals/A{week_data["D"]}"]').click()
    _open(browser, browser.current_url, shots, "approval")
    assert browser.find_element(By.CSS_SELECTOR, "td.holder").text == "王五"
    assert len(list(shots.iterdir())) == 12
