"""The DingTalk views' edges, as a prober would hit them: a half-configured event subscription, what
each refusal answers, the service's own clock where a message or event names no time, and the exact
expiry of a sessionWebhook."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from dingtalk.crypto import DingTalkCrypto
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import Runtime, SettingsHolder
from handlers.event_model import event_from_dict
from handlers.model import Address, Card, InboundMessage
from storage.models import InboundItem
from tests.conftest import NOW
from tests.dingtalk.conftest import (
    AES_KEY,
    APP_KEY,
    EVENT_TOKEN,
    ms,
    post_robot,
    robot_payload,
    signed_headers,
)

SDK = DingTalkCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)


def _sealed_event(event: dict, at=NOW) -> tuple[str, bytes]:
    sealed = SDK.encrypt_message(json.dumps(event), "n2", str(ms(at)))
    query = urlencode({"msg_signature": sealed["msg_signature"], "timestamp": sealed["timeStamp"],
                       "nonce": sealed["nonce"]})
    return f"/dingtalk/events?{query}", json.dumps({"encrypt": sealed["encrypt"]}).encode()


def _stored(runtime) -> list[InboundItem]:
    with runtime.factory() as s:
        return list(s.scalars(select(InboundItem).order_by(InboundItem.id)))


def _app_with(runtime, clock, **dingtalk):
    settings = runtime.settings
    changed = dataclasses.replace(settings, dingtalk=dataclasses.replace(settings.dingtalk, **dingtalk))
    return create_app(runtime=Runtime(SettingsHolder(changed), runtime.engine, runtime.factory), clock=clock)


@pytest.mark.parametrize("missing", ["token", "aes_key", "app_key"])
def test_a_half_configured_event_subscription_is_404_to_a_correctly_sealed_event(runtime, clock, missing):
    client = _app_with(runtime, clock, **{missing: ""}).test_client()
    url, body = _sealed_event({"EventType": "user_leave_org", "UserId": ["x"]})
    resp = client.post(url, data=body, content_type="application/json")
    assert (resp.status_code, resp.json) == (404, {"error": "not_found",
                                                   "message": "DingTalk event subscription is not configured"})
    robot = client.post("/dingtalk/robot", data=json.dumps(robot_payload("你好", "m404")), headers=signed_headers(NOW))
    if missing == "app_key":  # the robot needs the app itself; the events need token and aes_key too
        assert (robot.status_code, robot.json["message"]) == (404, "DingTalk is not configured")
    else:
        assert robot.status_code == 200
    assert len(_stored(runtime)) == (0 if missing == "app_key" else 1)


def test_each_refusal_answers_its_status_and_reason(client, runtime):
    forged = client.post("/dingtalk/robot", data=json.dumps(robot_payload("x", "m1")),
                         headers={**signed_headers(NOW), "sign": "Zm9yZ2Vk"})
    assert (forged.status_code, forged.json) == (403, {"error": "forbidden",
                                                       "message": "bad or missing DingTalk signature"})
    garbage = post_robot(client, b"[1, 2]")
    assert (garbage.status_code, garbage.json) == (400, {"error": "bad_request", "message": "body is not a JSON object"})
    url, body = _sealed_event({"EventType": "user_leave_org"})
    event_forged = client.post(url.replace("msg_signature=", "msg_signature=0"), data=body,
                               content_type="application/json")
    assert (event_forged.status_code, event_forged.json["message"]) == (403, "bad or missing DingTalk signature")
    url, body = _sealed_event({"UserId": ["x"]})
    untyped = client.post(url, data=body, content_type="application/json")
    assert (untyped.status_code, untyped.json["message"]) == (400, "event without EventType")
    assert _stored(runtime) == []


def test_a_robot_message_is_acknowledged_with_an_empty_object(client):
    resp = post_robot(client, robot_payload("你好", "m-ack"))
    assert (resp.status_code, resp.get_data(as_text=True).strip()) == (200, "{}")


def test_a_message_and_an_event_without_a_time_take_the_services_clock(client, clock, runtime):
    clock.now = NOW + timedelta(minutes=7)
    payload = robot_payload("你好", "m-notime", at=clock.now)
    del payload["createAt"]
    assert post_robot(client, payload, at=clock.now).status_code == 200
    url, body = _sealed_event({"EventType": "user_leave_org", "UserId": ["x"]}, at=clock.now)
    resp = client.post(url, data=body, content_type="application/json")
    assert resp.status_code == 200 and resp.json["timeStamp"] == str(ms(clock.now))
    message, event = _stored(runtime)
    assert InboundMessage.from_dict(message.payload).time == clock.now
    assert event_from_dict(event.payload).time == clock.now


def test_a_session_webhook_is_not_used_at_the_instant_it_expires(channel, fake_dingtalk):
    hook = fake_dingtalk.session_webhook("s-edge")
    assert channel.send(Card(title="已记录"), Address("dingtalk", "ding_zhangsan", hook, NOW), NOW).startswith("pqk-")
    assert fake_dingtalk.calls("/robot/sendBySession") == []
    live = Address("dingtalk", "ding_zhangsan", hook, NOW + timedelta(milliseconds=1))
    assert channel.send(Card(title="已记录"), live, NOW) is None
    assert len(fake_dingtalk.calls("/robot/sendBySession")) == 1
