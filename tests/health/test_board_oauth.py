"""Board login through DingTalk's and WeCom's own login, against the fakes: the member is found by the
platform's answer; a forged callback (wrong state), a refused code or a stranger gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.app import create_app
from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from tests.conftest import Clock
from tests.fakes.dingtalk import FakeDingTalkServer
from tests.fakes.wecom import FakeWeComServer
from tests.health.conftest import FRIDAY, XIAOMING

HTTPS = "https://salesbot.example.com"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeDingTalkServer, FakeWeComServer]]:
    with FakeDingTalkServer() as ding, FakeWeComServer() as wecom:
        yield ding, wecom


@pytest.fixture
def oauth_app(write_config, engine, factory, fakes) -> Flask:  # type: ignore[no-untyped-def]
    ding, wecom = fakes
    extra = (f'[dingtalk]\napp_key = "{ding.app_key}"\napp_secret = "{ding.app_secret}"\n'
             f'api_base = "{ding.url}"\nopenapi_base = "{ding.url}"\n'
             f'[wecom]\ncorp_id = "{wecom.corp_id}"\nsecret = "fake-app-secret"\nagent_id = 1000002\n'
             f'token = "tok"\nencoding_aes_key = "{"a" * 43}"\n'
             f'api_base = "{wecom.api_base}"\n' + XIAOMING)
    runtime = Runtime(SettingsHolder(load_settings(write_config(extra), environ={})), engine, factory)
    sync_directory(runtime)
    return create_app(runtime=runtime, clock=Clock(FRIDAY))


def _start(client: FlaskClient, platform: str, next_page: str = "/board/todos") -> dict[str, str]:
    answer = client.get(f"/board/oauth/{platform}?next={next_page}", base_url=HTTPS)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}


def test_dingtalk_login_finds_the_member_by_union_id(oauth_app: Flask, fakes) -> None:  # type: ignore[no-untyped-def]
    ding, _ = fakes
    client = oauth_app.test_client()
    asked = _start(client, "dingtalk")
    assert asked["client_id"] == ding.app_key
    assert asked["redirect_uri"] == f"{HTTPS}/board/oauth/dingtalk/done"
    code = ding.authorize("union-lisi", "ding_lisi")
    answer = client.get(f"/board/oauth/dingtalk/done?authCode={code}&state={asked['state']}", base_url=HTTPS)
    assert answer.status_code == 302 and answer.headers["Location"] == "/board/todos"
    assert client.get("/board/health/team/lisi", base_url=HTTPS).status_code == 200
    paths = [r.path for r in ding.requests]
    assert paths[-3:] == ["/v1.0/contact/users/me", "/gettoken", "/topapi/user/getbyunionid"]


def test_dingtalk_refusals(oauth_app: Flask, fakes) -> None:  # type: ignore[no-untyped-def]
    ding, _ = fakes
    client = oauth_app.test_client()
    asked = _start(client, "dingtalk")
    code = ding.authorize("union-lisi", "ding_lisi")
    forged = client.get(f"/board/oauth/dingtalk/done?authCode={code}&state=guessed", base_url=HTTPS)
    assert forged.status_code == 403  # a callback this browser did not start (login CSRF)
    assert client.get(f"/board/oauth/dingtalk/done?authCode={code}&state={asked['state']}",
                      base_url=HTTPS).status_code == 403  # the state is used up by the forged try
    asked = _start(client, "dingtalk")
    assert client.get(f"/board/oauth/dingtalk/done?authCode=made-up&state={asked['state']}",
                      base_url=HTTPS).status_code == 403
    asked = _start(client, "dingtalk")
    stranger = ding.authorize("union-x", "ding_stranger")
    assert client.get(f"/board/oauth/dingtalk/done?authCode={stranger}&state={asked['state']}",
                      base_url=HTTPS).status_code == 403
    assert client.get("/board/", base_url=HTTPS).status_code == 403


def test_wecom_login(oauth_app: Flask, fakes) -> None:  # type: ignore[no-untyped-def]
    _, wecom = fakes
    client = oauth_app.test_client()
    asked = _start(client, "wecom", "/board/health")
    assert asked["appid"] == wecom.corp_id and asked["scope"] == "snsapi_base"
    code = wecom.authorize("zhangsan")
    answer = client.get(f"/board/oauth/wecom/done?code={code}&state={asked['state']}", base_url=HTTPS)
    assert answer.status_code == 302 and answer.headers["Location"] == "/board/health"
    assert client.get("/board/health/team/lisi", base_url=HTTPS).status_code == 403  # a rep
    other = oauth_app.test_client()
    asked = _start(other, "wecom")
    assert other.get(f"/board/oauth/wecom/done?code={code}&state={asked['state']}",
                     base_url=HTTPS).status_code == 403  # the code was used


def test_no_open_redirect_and_refusal_page_offers_logins(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    answer = client.get("/board/oauth/dingtalk?next=https://evil.example/", base_url=HTTPS)
    assert answer.status_code == 302
    with client.session_transaction("/board/", base_url=HTTPS) as s:
        assert s["next"] == "/board/"
    page = client.get("/board/health", base_url=HTTPS).get_data(as_text=True)
    assert "用钉钉登录" in page and "/board/oauth/dingtalk?next=/board/health" in page


def test_enter_picks_the_platform_of_the_in_app_browser(oauth_app: Flask) -> None:
    client = oauth_app.test_client()
    ding = client.get("/board/oauth/enter?next=/board/health", base_url=HTTPS,
                      headers={"User-Agent": "Mozilla/5.0 AliApp(DingTalk/7.6.0)"})
    assert ding.headers["Location"].startswith("/board/oauth/dingtalk?next=/board/health")
    wecom = client.get("/board/oauth/enter?next=/board/health", base_url=HTTPS,
                       headers={"User-Agent": "Mozilla/5.0 wxwork/4.1.0 MicroMessenger"})
    assert wecom.headers["Location"].startswith("/board/oauth/wecom?next=")
    away = client.get("/board/oauth/enter?next=//evil.example/x", base_url=HTTPS)
    assert away.headers["Location"].startswith("/board/oauth/")  # never off the board
    assert "evil" not in away.headers["Location"]
