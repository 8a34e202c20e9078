"""The edges of DingTalk's signatures, as a replaying or probing sender would hit them: the exact end
of the robot's one-hour window, and event callbacks with a query parameter left out entirely."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from dingtalk.crypto import DingTalkCrypto

from bot.dingtalk_sign import ROBOT_SIGN_WINDOW, BadSignature, robot_sign, verify_robot_sign
from storage.models import InboundItem
from tests.conftest import NOW
from tests.dingtalk.conftest import AES_KEY, APP_KEY, APP_SECRET, EVENT_TOKEN, ms

SDK = DingTalkCrypto(EVENT_TOKEN, AES_KEY, APP_KEY)


@pytest.mark.parametrize("sign", [-1, 1])
def test_the_robot_window_includes_its_edge_and_nothing_past_it(sign: int) -> None:
    edge = str(ms(NOW + ROBOT_SIGN_WINDOW * sign))
    verify_robot_sign(edge, robot_sign(edge, APP_SECRET), APP_SECRET, NOW)
    past = str(ms(NOW + (ROBOT_SIGN_WINDOW + timedelta(milliseconds=1)) * sign))
    with pytest.raises(BadSignature, match="more than an hour"):
        verify_robot_sign(past, robot_sign(past, APP_SECRET), APP_SECRET, NOW)


@pytest.mark.parametrize("left_out", ["timestamp", "nonce", "msg_signature"])
def test_an_event_with_a_query_parameter_left_out_is_403_not_a_crash(client, runtime, left_out: str) -> None:
    sealed = SDK.encrypt_message(json.dumps({"EventType": "user_leave_org", "UserId": ["x"]}), "n1", str(ms(NOW)))
    query = {"msg_signature": sealed["msg_signature"], "timestamp": sealed["timeStamp"], "nonce": sealed["nonce"]}
    del query[left_out]
    resp = client.post("/dingtalk/events?" + urlencode(query), data=json.dumps({"encrypt": sealed["encrypt"]}),
                       content_type="application/json")
    assert resp.status_code == 403
    with runtime.factory() as s:
        assert s.query(InboundItem).count() == 0
