"""Event subscription over HTTP: every event answered with an encrypted `success`, org changes stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from dingtalk.crypto import DingTalkCrypto
from sqlalchemy import func, select

from bot.dingtalk_sign import EventCrypto
from scheduler.inbound import process_inbound
from storage.models import InboundItem, OrgEvent
from tests.conftest import NOW
from tests.dingtalk.conftest import AES_KEY, APP_KEY, EVENT_TOKEN, ms
from tests.dingtalk.test_sign import VECTOR

SDK = DingTalkCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)  # an independent implementation to check against


def _post(client, signature: str, timestamp: str, nonce: str, body: bytes):
    query = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
    return client.post(f"/dingtalk/events?{query}", data=body, content_type="application/json")


def _post_event(client, event: dict, nonce: str = "n0nce"):
    sealed = SDK.encrypt_message(json.dumps(event, ensure_ascii=False), nonce, str(ms(NOW)))
    return _post(client, sealed["msg_signature"], sealed["timeStamp"], sealed["nonce"],
                 json.dumps({"encrypt": sealed["encrypt"]}).encode())


def _assert_success(response) -> None:
    assert response.status_code == 200
    reply = response.json
    assert SDK.decrypt_encrypt_str(reply["msg_signature"], reply["timeStamp"], reply["nonce"],
                                   reply["encrypt"]) == "success"


def _count(runtime, model) -> int:
    with runtime.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_official_vector_check_url_is_answered_with_success(client, runtime, clock):
    clock.now = datetime.fromtimestamp(int(VECTOR["timestamp"]) / 1000, UTC)  # inside its freshness window
    body = json.dumps({"encrypt": VECTOR["encrypt"]}).encode()
    _assert_success(_post(client, VECTOR["signature"], VECTOR["timestamp"], VECTOR["nonce"], body))
    assert _count(runtime, InboundItem) == 0  # nothing to do for check_url


def test_freshly_encrypted_check_url_is_answered_with_success(client):
    _assert_success(_post_event(client, {"EventType": "check_url"}))


def test_the_older_signature_parameter_name_is_accepted(client):
    sealed = SDK.encrypt_message(json.dumps({"EventType": "check_url"}), "abc", str(ms(NOW)))
    query = urlencode({"signature": sealed["msg_signature"], "timestamp": sealed["timeStamp"], "nonce": "abc"})
    response = client.post(f"/dingtalk/events?{query}", data=json.dumps({"encrypt": sealed["encrypt"]}))
    _assert_success(response)


def test_leave_and_modify_events_are_stored_once_for_hand_over(client, runtime):
    leave = {"EventType": "user_leave_org", "TimeStamp": str(ms(NOW)), "UserId": ["ding_zhangsan"],
             "CorpId": "dingcorp", "OptStaffId": "ding_sunqi"}
    modify = {"EventType": "user_modify_org", "TimeStamp": str(ms(NOW) + 1), "UserId": ["ding_lisi"],
              "CorpId": "dingcorp"}
    _assert_success(_post_event(client, leave))
    _assert_success(_post_event(client, leave, nonce="retry"))  # DingTalk's retry of the same event
    _assert_success(_post_event(client, modify))
    _assert_success(_post_event(client, {"EventType": "chat_add_member", "ChatId": "c1", "TimeStamp": "1"}))
    assert _count(runtime, InboundItem) == 2  # chat_add_member is acknowledged, not stored
    assert process_inbound(runtime.factory, runtime.settings, NOW, "w") == 2
    with runtime.factory() as s:
        rows = s.scalars(select(OrgEvent).order_by(OrgEvent.id)).all()
    assert [(r.platform, r.kind, r.platform_user_ids, r.handled) for r in rows] == [
        ("dingtalk", "member_left", "ding_zhangsan", True),  # handed over at once (handlers.handover)
        ("dingtalk", "member_changed", "ding_lisi", False),
    ]
    assert rows[0].payload["actor"] == "ding_sunqi" and rows[0].received_at == NOW


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda q, b: ("0" * 40, q[1], q[2], b), 403),  # wrong signature
        (lambda q, b: ("", q[1], q[2], b), 403),  # missing signature
        (lambda q, b: (*q, b"garbage"), 400),  # body is not JSON
        (lambda q, b: (*q, b'{"encrypt": ""}'), 400),  # no ciphertext
    ],
)
def test_forged_and_garbage_events_are_refused(client, runtime, mangle, status):
    sealed = SDK.encrypt_message(json.dumps({"EventType": "user_leave_org", "UserId": ["x"]}), "n", "1")
    query = (sealed["msg_signature"], sealed["timeStamp"], sealed["nonce"])
    response = _post(client, *mangle(query, json.dumps({"encrypt": sealed["encrypt"]}).encode()))
    assert response.status_code == status
    assert _count(runtime, InboundItem) == 0
    assert client.get("/healthz").status_code == 200


def test_signed_ciphertext_that_does_not_decrypt_is_malformed(client):
    garbage = "bm90IGEgY2lwaGVydGV4dA=="
    signature = EventCrypto(EVENT_TOKEN, AES_KEY, APP_KEY).signature("1", "n", garbage)
    assert _post(client, signature, "1", "n", json.dumps({"encrypt": garbage}).encode()).status_code == 400


def test_event_without_event_type_is_malformed(client):
    assert _post_event(client, {"UserId": ["x"]}).status_code == 400
