"""/dingtalk/events at the edge: stale or garbage timestamps and unparseable bodies are refused."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from storage.models import InboundItem
from tests.conftest import NOW
from tests.dingtalk.conftest import ms
from tests.dingtalk.test_events_http import SDK

LEAVE = {"EventType": "user_leave_org", "TimeStamp": str(ms(NOW)), "UserId": ["ding_zhangsan"]}


def _post_signed(client, event: dict, timestamp: str):
    sealed = SDK.encrypt_message(json.dumps(event), "n0nce", timestamp)
    query = urlencode({"msg_signature": sealed["msg_signature"], "timestamp": timestamp, "nonce": "n0nce"})
    return client.post(f"/dingtalk/events?{query}", data=json.dumps({"encrypt": sealed["encrypt"]}),
                       content_type="application/json")


def _stored(runtime) -> int:
    with runtime.factory() as s:
        return int(s.scalar(select(func.count()).select_from(InboundItem)) or 0)


@pytest.mark.parametrize("age", [timedelta(hours=1, seconds=1), -timedelta(hours=1, seconds=1),
                                 NOW - NOW.replace(year=2020)])
def test_a_correctly_signed_event_outside_the_window_is_403(client, runtime, age):
    assert _post_signed(client, LEAVE, str(ms(NOW - age))).status_code == 403
    assert _stored(runtime) == 0


def test_a_correctly_signed_event_inside_the_window_is_stored(client, runtime, clock):
    clock.now = NOW + timedelta(minutes=59)
    assert _post_signed(client, LEAVE, str(ms(NOW))).status_code == 200
    assert _stored(runtime) == 1


@pytest.mark.parametrize("timestamp", ["not-a-time", "9" * 30, "1e3"])
def test_a_garbage_timestamp_is_400(client, runtime, timestamp):
    assert _post_signed(client, LEAVE, timestamp).status_code == 400
    assert _stored(runtime) == 0


def test_deeply_nested_json_is_400_before_the_signature_check(client):
    query = urlencode({"msg_signature": "forged", "timestamp": str(ms(NOW)), "nonce": "1"})
    response = client.post(f"/dingtalk/events?{query}", data=b"[" * 1000, content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "bad_request"


def test_deeply_nested_json_on_the_robot_url_is_400(client):
    from tests.dingtalk.conftest import post_robot

    assert post_robot(client, b"[" * 2000).status_code == 400


@pytest.mark.parametrize("field", ["msgId", "senderStaffId", "conversationId"])
def test_an_id_too_long_to_store_is_400_on_the_robot_url(client, runtime, field):
    from tests.dingtalk.conftest import post_robot, robot_payload

    payload = robot_payload("你好", "m-long")
    payload[field] = "x" * 200 if field != "conversationId" else "c" * 300
    assert post_robot(client, payload).status_code == 400
    assert _stored(runtime) == 0


def test_a_group_renamed_to_a_long_title_with_nul_still_links(client, runtime, channel):
    from storage.models import Conversation, Customer
    from tests.dingtalk.conftest import post_robot, pump, robot_payload

    title = "华为项目群\x00" + "群" * 300
    post_robot(client, robot_payload("关联 华为科技", "g-long", group=True, conversation="cid-g", title=title))
    pump(runtime, channel, NOW)
    with runtime.factory() as s:
        assert s.scalars(select(Customer.name)).one() == "华为科技"
        assert s.scalars(select(Conversation.title)).one() == ("华为项目群" + "群" * 300)[:200]
