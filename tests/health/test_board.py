"""The web board over HTTP: login through a one-time signed link, scoped pages, and every refusal
(replayed, expired or forged link, tampered cookie, another team's page or item, a user who left,
a form without its CSRF token) answered 403 with none of the data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from handlers.health.links import login_link
from storage import directory
from storage.db import transaction
from tests.conftest import Clock
from tests.health.conftest import FRIDAY

HTTPS = "https://salesbot.example.com"


@pytest.fixture
def board(app: Flask, clock: Clock, week_data: dict[str, int]) -> FlaskClient:
    clock.now = FRIDAY
    return app.test_client()


def _path(link: str | None) -> str:
    assert link and link.startswith(HTTPS + "/board/login/")
    return link[len(HTTPS):]


def _login(client: FlaskClient, user: str, clock: Clock) -> None:
    answer = client.get(_path(login_link(user, clock.now)), base_url=HTTPS)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/board/")


def _get(client: FlaskClient, path: str) -> tuple[int, str]:
    answer = client.get(path, base_url=HTTPS)
    return answer.status_code, answer.get_data(as_text=True)


def test_a_link_logs_in_once_and_sets_a_safe_cookie(board: FlaskClient, clock: Clock) -> None:
    path = _path(login_link("lisi", clock.now))
    answer = board.get(path, base_url=HTTPS)
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie and "Path=/board" in cookie
    status, page = _get(board, "/board/")
    assert status == 200 and "当前审批人：<span class=\"holder\">王五</span>" in page
    stranger = board.application.test_client()
    status, page = _get(stranger, path)  # the same link again, from anywhere
    assert status == 403 and "王五" not in page and "已经用过" in page


def test_an_expired_or_forged_link_is_refused(board: FlaskClient, clock: Clock) -> None:
    path = _path(login_link("lisi", clock.now))
    clock.advance(minutes=10, seconds=1)
    assert _get(board, path)[0] == 403
    fresh = _path(login_link("lisi", clock.now))
    forged = fresh[:-3] + ("AAA" if not fresh.endswith("AAA") else "BBB")
    assert _get(board, forged)[0] == 403
    assert _get(board, "/board/")[0] == 403  # no session was set by either


def test_no_session_or_a_tampered_cookie_sees_nothing(board: FlaskClient, clock: Clock) -> None:
    for path in ("/board/", "/board/todos", "/board/risks", "/board/health", "/board/health/team/lisi"):
        status, page = _get(board, path)
        assert status == 403 and "王五" not in page
    _login(board, "zhangsan", clock)
    cookie = board.get_cookie("salesbot_board", domain="salesbot.example.com", path="/board")
    assert cookie is not None
    board.set_cookie("salesbot_board", cookie.value.replace("zhangsan", "lisi")[:-2] + "xx",
                     domain="salesbot.example.com", path="/board")
    assert _get(board, "/board/")[0] == 403


def test_a_rep_sees_own_items_only(board: FlaskClient, clock: Clock, week_data: dict[str, int]) -> None:
    _login(board, "zhangsan", clock)
    status, page = _get(board, "/board/")
    assert status == 200 and 'id="approval-count">0<' in page  # D is 小明's
    status, page = _get(board, "/board/todos")
    assert 'id="todo-count">2<' in page and "寄样品" in page
    for path in ("/board/health/team/lisi", "/board/health/rep/xiaoming", f"/board/approvals/A{week_data['D']}",
                 "/board/health/team/wangwu"):
        status, page = _get(board, path)
        assert status == 403 and "小明" not in page, path
    assert board.get("/board/health", base_url=HTTPS).headers["Location"].endswith("/board/health/rep/zhangsan")


def test_a_manager_drills_down_from_team_to_rep_to_item(board: FlaskClient, clock: Clock,
                                                        week_data: dict[str, int]) -> None:
    _login(board, "lisi", clock)
    assert board.get("/board/health", base_url=HTTPS).headers["Location"].endswith("/board/health/team/lisi")
    status, page = _get(board, "/board/health/team/lisi")
    assert status == 200 and 'href="/board/health/rep/xiaoming"' in page
    assert 'data-metric="approval_within_5wd_share"><span class="n">67%' in page
    status, page = _get(board, "/board/health/rep/xiaoming")
    code = f"A{week_data['D']}"
    assert status == 200 and f'href="/board/approvals/{code}"' in page
    status, page = _get(board, f"/board/approvals/{code}")
    assert status == 200 and '<td class="holder">王五</td>' in page
    assert _get(board, "/board/health/team/wangwu")[0] == 403  # above him


def test_a_director_sees_the_company_and_every_team(board: FlaskClient, clock: Clock) -> None:
    _login(board, "wangwu", clock)
    status, page = _get(board, "/board/health")
    assert status == 200 and "全公司" in page and 'href="/board/health/team/lisi"' in page
    status, page = _get(board, "/board/risks")
    assert 'data-severity="high">1<' in page and 'data-severity="medium">1<' in page


def test_a_user_who_left_is_logged_out(board: FlaskClient, clock: Clock, factory: sessionmaker[Session]) -> None:
    _login(board, "lisi", clock)
    with transaction(factory) as s:
        user = directory.get_user(s, "lisi")
        assert user is not None
        user.active = False
    status, page = _get(board, "/board/")
    assert status == 403 and "王五" not in page
    with transaction(factory) as s:
        user = directory.get_user(s, "lisi")
        assert user is not None
        user.active = True
    assert _get(board, "/board/")[0] == 403  # the session was cleared, not just refused once


def test_logout_needs_its_csrf_token(board: FlaskClient, clock: Clock) -> None:
    _login(board, "lisi", clock)
    assert board.post("/board/logout", data={}, base_url=HTTPS).status_code == 403
    assert board.post("/board/logout", data={"csrf": "guess"}, base_url=HTTPS).status_code == 403
    assert _get(board, "/board/")[0] == 200  # still logged in
    page = _get(board, "/board/")[1]
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    assert board.post("/board/logout", data={"csrf": token.group(1)}, base_url=HTTPS).status_code == 302
    assert _get(board, "/board/")[0] == 403


def test_customer_text_is_escaped(board: FlaskClient, clock: Clock, factory: sessionmaker[Session]) -> None:
    from tests.health import seed

    with transaction(factory) as s:
        c = seed.customer(s, "<script>alert(1)</script>", "zhangsan", FRIDAY)
        seed.risk(s, c, FRIDAY - timedelta(hours=1))
    _login(board, "lisi", clock)
    page = _get(board, "/board/risks")[1]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_assets_are_served_by_salesbot(board: FlaskClient) -> None:
    for path in ("/board/static/vendor/echarts/echarts.min.js", "/board/static/board.js",
                 "/board/static/board.css", "/board/static/vendor/echarts/LICENSE"):
        answer = board.get(path, base_url=HTTPS)
        assert answer.status_code == 200, path
        answer.close()


def test_the_chat_board_card_carries_a_link_that_opens_the_board(write_config, engine, factory) -> None:  # type: ignore[no-untyped-def]
    from bot.app import create_app
    from tests.approvals.conftest import make_chat

    chat = make_chat(write_config, engine, factory)
    card = chat.say("lisi", "看板")[0]
    assert card.title == "审批看板" and card.link is not None
    assert card.lines[-1].startswith(f"网页看板：{card.link}")
    rep_card = chat.say("zhangsan", "看板")[0]
    assert "你没有下属" in rep_card.text() and rep_card.link is not None
    clock = Clock(chat.now)
    client = create_app(runtime=chat.runtime, clock=clock).test_client()
    assert client.get(_path(rep_card.link), base_url=HTTPS).status_code == 302
    assert _get(client, "/board/health/team/lisi")[0] == 403  # the rep's link never opens the team page
    other = create_app(runtime=chat.runtime, clock=clock).test_client()
    clock.advance(minutes=11)
    assert other.get(_path(card.link), base_url=HTTPS).status_code == 403  # the manager's, too late
