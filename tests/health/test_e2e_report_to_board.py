"""Done when (issue 14): four weeks of records; the Friday tick sends each manager one report card whose
figures match a count made here from the records themselves; the manager taps the link in DingTalk
(the fake's login page), the board opens in Chromium with the approval stuck longest and who holds it,
and a drill-down reaches the rep and the item; the rep's link cannot open the manager's team page; an
expired link is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from bot import board_oauth
from bot.app import create_app
from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers.health.links import login_link
from scheduler.jobs import run_tick
from storage.db import transaction
from storage.models import OutboxItem
from tests.conftest import Clock
from tests.fakes.dingtalk import FakeDingTalkServer
from tests.health import seed
from tests.health.conftest import CHROMIUM, DRIVER, FRIDAY, MONDAY, XIAOMING

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="no browser: install Debian's chromium and chromium-driver (.ci/run does)")
HOLDS = (4, 30, 100, 200, 20)  # hours each week's approvals wait; 200 h is past 5 working days
REPS = ("zhangsan", "xiaoming")


@dataclass
class Seeded:
    decided: list[tuple[str, datetime, datetime]]  # (submitter, submitted, decided)
    todos: list[tuple[str, datetime, datetime | None]]  # (owner, due, done)
    stuck_code: str


def _four_weeks(factory: sessionmaker[Session]) -> Seeded:
    out = Seeded([], [], "")
    with transaction(factory) as s:
        customers = {rep: seed.customer(s, f"{rep} 的客户", rep, MONDAY - timedelta(weeks=5)) for rep in REPS}
        for week in range(4):
            monday = MONDAY - timedelta(weeks=3 - week) + timedelta(hours=2)  # Monday 10:00 China time
            for i, rep in enumerate(REPS):
                for j, hold in enumerate(HOLDS[: 3 + i + week % 2]):
                    created = monday + timedelta(hours=j)
                    seed.approval(s, customers[rep], rep, created, hold=[("lisi", hold)])
                    out.decided.append((rep, created, created + timedelta(hours=hold)))
                for d in range(3):
                    due = monday + timedelta(days=d, hours=6)
                    done = due - timedelta(hours=1) if (d + i + week) % 3 else None
                    seed.todo(s, rep, monday, due, done)
                    out.todos.append((rep, due, done))
        stuck = seed.approval(s, customers["xiaoming"], "xiaoming", MONDAY - timedelta(days=3), hold=[("lisi", 2)],
                              pending="wangwu")
        out.stuck_code = stuck.code
    return out


def _share(hits: int, total: int) -> str:
    return f"{hits / total * 100:.0f}%" if total else "—"


@pytest.fixture
def ding() -> Iterator[FakeDingTalkServer]:
    with FakeDingTalkServer() as fake:
        yield fake


@pytest.fixture
def served(write_config: Callable[..., Any], engine: Any, factory: sessionmaker[Session],
           ding: FakeDingTalkServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Runtime, Clock]]:
    """salesbot on a real port, its public_url that port, DingTalk's login page the fake's."""
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start), threaded=True)
    live = f"http://127.0.0.1:{server.server_port}"
    config = write_config(f'[dingtalk]\napp_key = "{ding.app_key}"\napp_secret = "{ding.app_secret}"\n'
                          f'api_base = "{ding.url}"\nopenapi_base = "{ding.url}"\n' + XIAOMING)
    text = config.read_text(encoding="utf-8").replace('public_url = "https://salesbot.example.com"',
                                                      f'public_url = "{live}"')
    config.write_text(text, encoding="utf-8")
    runtime = Runtime(SettingsHolder(load_settings(config, environ={})), engine, factory)
    sync_directory(runtime)
    clock = Clock(FRIDAY)
    holder["app"] = create_app(runtime=runtime, clock=clock)
    monkeypatch.setattr(board_oauth, "DINGTALK_AUTHORIZE", ding.url + "oauth2/auth")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield live, runtime, clock
    server.shutdown()
    thread.join(5)


def test_friday_report_to_the_board_in_chromium(served: tuple[str, Runtime, Clock], ding: FakeDingTalkServer,
                                               factory: sessionmaker[Session], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    live, runtime, clock = served
    data = _four_weeks(factory)
    lines = run_tick(factory, runtime.settings, FRIDAY)
    assert sorted(x for x in lines if x.startswith("weekly_report")) == [
        "weekly_report: 2026-W45: report -> lisi", "weekly_report: 2026-W45: report -> wangwu"]
    assert not [x for x in run_tick(factory, runtime.settings, FRIDAY + timedelta(hours=2)) if "report" in x]
    with factory() as s:
        cards = {r.recipient_id: r.card for r in s.scalars(
            select(OutboxItem).where(OutboxItem.dedupe_key.like("report:%")))}
    assert set(cards) == {"lisi", "wangwu"}

    # the count made here: this week is [MONDAY, FRIDAY), last week the seven days before
    def within(start: datetime, end: datetime) -> str:
        rows = [(sub, c, d) for sub, c, d in data.decided if start <= d < end]
        return _share(sum(1 for _, c, d in rows if d - c <= timedelta(hours=168)), len(rows))

    def on_time(start: datetime, end: datetime) -> str:
        rows = [(o, due, done) for o, due, done in data.todos if start <= due < end]
        return _share(sum(1 for _, due, done in rows if done is not None and done <= due), len(rows))

    overdue = sum(1 for _, due, done in data.todos if done is None and due < FRIDAY)
    body = list(cards["lisi"]["lines"])
    last = MONDAY - timedelta(weeks=1)
    assert any(x.endswith(f"5 个工作日内审批完成：{within(MONDAY, FRIDAY)}（上周 {within(last, MONDAY)}）")
               for x in body), body
    assert any(x.endswith(f"按时完成率：{on_time(MONDAY, FRIDAY)}（上周 {on_time(last, MONDAY)}）") for x in body)
    assert any(x.endswith(f"逾期未完成待办：{overdue}（上周 "
                          f"{sum(1 for _, due, done in data.todos if due < MONDAY and (done is None or done > MONDAY))}）")
               for x in body)

    # the manager taps the link in DingTalk: the fake login page signs in union-lisi
    ding.staff_by_union["union-lisi"] = "ding_lisi"
    ding.next_login = "union-lisi"
    link = str(cards["lisi"]["link"])
    assert link.startswith(live + "/board/oauth/enter?next=/board/health")
    browser.get(link)
    assert browser.current_url == f"{live}/board/health/team/lisi"
    browser.find_element(By.LINK_TEXT, "审批看板").click()
    first = browser.find_elements(By.CSS_SELECTOR, ".item")[0]
    assert first.get_attribute("data-code") == data.stuck_code
    assert first.find_element(By.CSS_SELECTOR, ".holder").text == "王五"
    browser.get(f"{live}/board/health/team/lisi")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/board/health/rep/xiaoming"]').click()
    browser.find_element(By.CSS_SELECTOR, f'a[href="/board/approvals/{data.stuck_code}"]').click()
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith(f"审批 {data.stuck_code}")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # the rep's link cannot open the manager's team page; an expired link is refused
    def refusal() -> str:
        # wait for the refusal page itself (navigation after a 302 or a 403 can still be settling)
        found = WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.refused"))
        return str(found[0].text) + str(browser.page_source)

    browser.delete_all_cookies()
    rep = login_link("zhangsan", clock.now)
    assert rep is not None
    browser.get(rep)
    WebDriverWait(browser, 10).until(lambda d: d.current_url == f"{live}/board/")
    browser.get(f"{live}/board/health/team/lisi")
    page = refusal()
    assert "无权查看这个团队" in page and "小明" not in page
    browser.delete_all_cookies()
    late = login_link("lisi", clock.now)
    clock.advance(minutes=11)
    browser.get(str(late))
    assert "链接无效或已过期" in refusal()
    browser.get(f"{live}/board/")
    assert "请从聊天里发「看板」" in refusal()
