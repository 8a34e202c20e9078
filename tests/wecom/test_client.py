"""The WeCom client and channel against the fake: shared token, one refetch, retryable failures."""

from __future__ import annotations

import pytest

from bot.wecom import WeComChannel
from bot.wecom_client import WeComClient, WeComError
from handlers.model import Address, Button, Card
from scheduler.delivery import DeliveryError
from tests.conftest import NOW

TO = Address("wecom", "zhangsan")
INFO = Card(title="已记录", lines=("已记到「华为」的时间线。",))


@pytest.fixture
def client(runtime) -> WeComClient:
    return WeComClient(runtime.settings.wecom, runtime.factory)


@pytest.fixture
def channel(runtime, client) -> WeComChannel:
    return WeComChannel(runtime.settings.wecom, client)


def test_every_call_goes_to_api_base_including_gettoken(channel, fake_wecom):
    channel.send(INFO, TO, NOW)
    assert [r.path for r in fake_wecom.requests] == ["gettoken", "message/send"]
    assert fake_wecom.requests[0].query["corpsecret"] == "fake-app-secret"
    assert fake_wecom.requests[1].query["access_token"] == "TOKEN-1"


def test_token_is_cached_in_the_database_and_shared_by_workers(runtime, fake_wecom):
    first = WeComChannel(runtime.settings.wecom, WeComClient(runtime.settings.wecom, runtime.factory))
    second = WeComChannel(runtime.settings.wecom, WeComClient(runtime.settings.wecom, runtime.factory))
    first.send(INFO, TO, NOW)
    second.send(INFO, TO, NOW)
    assert len(fake_wecom.calls("gettoken")) == 1
    assert {r.query["access_token"] for r in fake_wecom.calls("message/send")} == {"TOKEN-1"}


def test_token_is_refetched_when_it_expires(channel, fake_wecom):
    from datetime import timedelta

    channel.send(INFO, TO, NOW)
    channel.send(INFO, TO, NOW + timedelta(hours=2))
    assert len(fake_wecom.calls("gettoken")) == 2


def test_revoked_token_is_refetched_once(channel, fake_wecom):
    channel.send(INFO, TO, NOW)
    fake_wecom.revoke_tokens()
    channel.send(INFO, TO, NOW)
    assert [r.path for r in fake_wecom.requests] == ["gettoken", "message/send", "message/send", "gettoken",
                                                     "message/send"]
    assert len(fake_wecom.sent()) == 2


@pytest.mark.parametrize("errcode", [40014, 42001])
def test_persistent_token_rejection_refetches_only_once(channel, fake_wecom, errcode):
    fake_wecom.fail("message/send", errcode, times=10)
    with pytest.raises(DeliveryError) as err:
        channel.send(INFO, TO, NOW)
    assert err.value.retryable
    assert len(fake_wecom.calls("gettoken")) == 2
    assert len(fake_wecom.calls("message/send")) == 2


@pytest.mark.parametrize("errcode", [45009, 45033, -1])
def test_rate_limits_and_busy_are_retryable(channel, fake_wecom, errcode):
    fake_wecom.fail("message/send", errcode)
    with pytest.raises(DeliveryError) as err:
        channel.send(INFO, TO, NOW)
    assert err.value.retryable and err.value.retry_after
    channel.send(INFO, TO, NOW)  # the next attempt goes through
    assert len(fake_wecom.sent()) == 1


def test_503_is_retryable(channel, fake_wecom):
    fake_wecom.go_down("503")
    with pytest.raises(DeliveryError) as err:
        channel.send(INFO, TO, NOW)
    assert err.value.retryable


def test_connection_refused_is_retryable(channel, fake_wecom):
    fake_wecom.go_down("refused")
    with pytest.raises(DeliveryError) as err:
        channel.send(INFO, TO, NOW)
    assert err.value.retryable
    fake_wecom.come_back()
    channel.send(INFO, TO, NOW)
    assert len(fake_wecom.sent()) == 1


def test_every_call_has_a_timeout(runtime, fake_wecom):
    from dataclasses import replace

    cfg = replace(runtime.settings.wecom, timeout_seconds=0.2)
    channel = WeComChannel(cfg, WeComClient(cfg, runtime.factory))
    channel.send(INFO, TO, NOW)
    fake_wecom.slow("message/send", 1.0)
    with pytest.raises(DeliveryError, match="no answer within") as err:
        channel.send(INFO, TO, NOW)
    assert err.value.retryable


def test_gettoken_has_the_timeout_too(runtime, fake_wecom):
    from dataclasses import replace

    cfg = replace(runtime.settings.wecom, timeout_seconds=0.2)
    fake_wecom.slow("gettoken", 1.0)
    with pytest.raises(DeliveryError, match="gettoken: no answer within") as err:
        WeComChannel(cfg, WeComClient(cfg, runtime.factory)).send(INFO, TO, NOW)
    assert err.value.retryable


def test_app_and_contact_secrets_have_their_own_shared_tokens(runtime, fake_wecom):
    from sqlalchemy import func, select

    from storage.models import PlatformToken

    cfg = runtime.settings.wecom
    WeComChannel(cfg, WeComClient(cfg, runtime.factory)).send(INFO, TO, NOW)
    fake_wecom.contacts["wmX"] = {"external_contact": {"name": "李明"}, "follow_user": []}
    WeComClient(cfg, runtime.factory, secret=cfg.contact_secret).get("externalcontact/get",
                                                                     {"external_userid": "wmX"}, NOW)
    assert [r.query["corpsecret"] for r in fake_wecom.calls("gettoken")] == ["fake-app-secret",
                                                                            "fake-contact-secret"]
    [send], [lookup] = fake_wecom.calls("message/send"), fake_wecom.calls("externalcontact/get")
    assert send.query["access_token"] != lookup.query["access_token"]
    with runtime.factory() as s:
        assert s.scalar(select(func.count()).select_from(PlatformToken)) == 2


def test_http_client_error_is_not_retried(client, fake_wecom):
    with pytest.raises(WeComError, match="HTTP 404") as err:
        client.get("no/such/api", now=NOW)
    assert not err.value.retryable


def test_unknown_user_is_not_retried(channel, fake_wecom):
    fake_wecom.invalid_users.add("ghost")
    with pytest.raises(DeliveryError) as err:
        channel.send(INFO, Address("wecom", "ghost"), NOW)
    assert not err.value.retryable


def test_wrong_secret_is_a_clear_error(runtime, fake_wecom):
    from dataclasses import replace

    cfg = replace(runtime.settings.wecom, secret="wrong")
    with pytest.raises(WeComError, match="40001"):
        WeComClient(cfg, runtime.factory).access_token(NOW)


def test_action_card_is_a_template_card_whose_keys_are_the_commands(channel, fake_wecom):
    card = Card(title="报价审批 A17", lines=("张三提交了华为的报价。",), fields=(("金额", "120,000"),),
                buttons=(Button("同意", "同意 A17"), Button("驳回", "驳回 A17", "danger")), key="A17")
    ref = channel.send(card, Address("wecom", "lisi"), NOW)
    [body] = fake_wecom.sent()
    assert body["msgtype"] == "template_card" and body["touser"] == "lisi" and body["agentid"] == 218
    tc = body["template_card"]
    assert tc["card_type"] == "button_interaction"
    assert [(b["text"], b["key"]) for b in tc["button_list"]] == [("同意", "同意 A17"), ("驳回", "驳回 A17")]
    assert tc["button_list"][1]["style"] != tc["button_list"][0]["style"]
    assert tc["horizontal_content_list"] == [{"keyname": "金额", "value": "120,000"}]
    assert tc["task_id"].startswith("A17-")
    assert ref and ref.startswith("rc-")  # the response_code, kept for later updates


def test_informing_card_is_markdown_or_textcard(channel, fake_wecom):
    channel.send(INFO, TO, NOW)
    channel.send(Card(title="日报", lines=("今日新增 3 个客户",), link="https://salesbot.example.com/r/1"), TO, NOW)
    markdown, textcard = fake_wecom.sent()
    assert markdown["msgtype"] == "markdown" and "已记录" in markdown["markdown"]["content"]
    assert textcard["msgtype"] == "textcard" and textcard["textcard"]["url"] == "https://salesbot.example.com/r/1"
    assert "今日新增 3 个客户" in textcard["textcard"]["description"]


def test_update_ref_updates_the_tapped_card(channel, fake_wecom):
    outcome = Card(title="已同意", lines=("A17 已同意，已通知张三。",), update_ref="rc-9")
    channel.send(outcome, Address("wecom", "lisi"), NOW)
    [call] = fake_wecom.calls("message/update_template_card")
    body = call.json
    assert body["response_code"] == "rc-9" and body["userids"] == ["lisi"]
    assert body["template_card"]["replace_text"] == "已同意"
    assert fake_wecom.sent() == []


def test_expired_response_code_falls_back_to_a_new_message(channel, fake_wecom):
    channel.send(Card(title="已同意", update_ref="stale-code"), Address("wecom", "lisi"), NOW)
    assert len(fake_wecom.calls("message/update_template_card")) == 1
    [body] = fake_wecom.sent()
    assert "已同意" in body["markdown"]["content"]
