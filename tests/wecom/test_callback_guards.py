"""The edges of the WeCom callback view, as a replaying or probing attacker would hit them: the exact
end of the freshness window, a half-configured app, and what each refusal says."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.runtime import Runtime, SettingsHolder
from bot.wecom import FRESHNESS
from storage.models import InboundItem
from tests.conftest import Clock
from tests.wecom.conftest import Sender, text_xml


def stored(runtime) -> list[str]:
    with runtime.factory() as s:
        return [item.dedupe_key for item in s.scalars(select(InboundItem).order_by(InboundItem.id))]


def test_a_request_signed_exactly_at_the_edge_of_the_window_is_accepted_a_second_later_refused(
        client, crypto, clock, runtime):
    for drift, sign in ((FRESHNESS, -1), (FRESHNESS, 1)):  # signed an hour ago, and an hour ahead
        at_edge = Sender(client, crypto, Clock(clock.now + drift * sign))
        assert at_edge.text("zhangsan", "边界", f"edge{sign}").status_code == 200
    for sign in (-1, 1):
        past_edge = Sender(client, crypto, Clock(clock.now + (FRESHNESS + timedelta(seconds=1)) * sign))
        resp = past_edge.text("zhangsan", "重放", f"late{sign}")
        assert resp.status_code == 403 and "freshness window" in resp.json["message"]
    assert stored(runtime) == ["msg:edge-1", "msg:edge1"]


def test_url_verification_is_also_refused_outside_the_window(client, crypto, clock):
    def verify(at) -> tuple[int, str]:
        ts, nonce = str(int(at.timestamp())), "55"
        echostr = crypto.encrypt(b"echo-123")
        query = {"msg_signature": crypto.signature(ts, nonce, echostr), "timestamp": ts, "nonce": nonce,
                 "echostr": echostr}
        resp = client.get("/wecom/callback?" + urlencode(query))
        return resp.status_code, resp.get_data(as_text=True)

    assert verify(clock.now - FRESHNESS) == (200, "echo-123")
    assert verify(clock.now - FRESHNESS - timedelta(seconds=1))[0] == 403


def test_the_echostr_answer_is_plain_text(client, crypto, clock):
    ts, nonce, echostr = str(int(clock.now.timestamp())), "56", crypto.encrypt(b"plain")
    resp = client.get("/wecom/callback?" + urlencode(
        {"msg_signature": crypto.signature(ts, nonce, echostr), "timestamp": ts, "nonce": nonce, "echostr": echostr}))
    assert (resp.status_code, resp.mimetype, resp.data) == (200, "text/plain", b"plain")


@pytest.mark.parametrize("missing", ["corp_id", "token", "encoding_aes_key"])
def test_a_half_configured_callback_is_404_even_to_a_correctly_signed_request(runtime, crypto, clock, missing):
    settings = runtime.settings
    half = dataclasses.replace(settings, wecom=dataclasses.replace(settings.wecom, **{missing: ""}))
    app = create_app(runtime=Runtime(SettingsHolder(half), runtime.engine, runtime.factory), clock=clock)
    resp = Sender(app.test_client(), crypto, clock).text("zhangsan", "你好", "h1")
    assert resp.status_code == 404
    assert resp.json == {"error": "not_found", "message": "wecom callback is not configured"}
    assert stored(runtime) == []


def test_each_refusal_names_its_reason(sender, clock, runtime):
    forged = sender.post_xml(text_xml("zhangsan", "伪造", "r1", clock()), msg_signature="0" * 40)
    assert (forged.status_code, forged.json) == (403, {"error": "forbidden", "message": "signature mismatch"})
    no_nonce = sender.post_xml(text_xml("zhangsan", "x", "r2", clock()), nonce="")
    assert (no_nonce.status_code, no_nonce.json) == (400, {"error": "bad_request", "message": "missing nonce"})
    assert stored(runtime) == []
