"""A DingTalk robot sign covers only its timestamp: one (timestamp, sign) pair may carry one msgId."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from storage.db import transaction
from storage.models import Approval, InboundItem, RobotSignature
from storage.signatures import claim_signature
from tests.conftest import NOW
from tests.dingtalk.conftest import dingtalk_toml, post_robot, pump, robot_headers, robot_payload


@pytest.fixture
def settings(write_config, fake_dingtalk):
    chain = '\n[[approvals]]\nkind = "quote"\nsteps = [{ approver = "manager" }]\n'
    return load_settings(write_config(dingtalk_toml(fake_dingtalk.url) + chain), environ={})


def _submit_quote(client, runtime, channel):
    post_robot(client, robot_payload("关联 华为技术有限公司", "m1"), at=NOW)
    pump(runtime, channel, NOW)
    at = NOW + timedelta(seconds=30)
    quote = robot_payload("报价 华为技术有限公司 680000", "m2", at=at)
    assert post_robot(client, quote, at=at).status_code == 200
    pump(runtime, channel, at)
    with runtime.factory() as s:
        approval = s.scalars(select(Approval)).one()
        assert approval.status == "pending"
    return quote, at


def test_a_captured_header_pair_cannot_sign_an_approval(client, runtime, channel, clock):
    quote, at = _submit_quote(client, runtime, channel)
    clock.now = at + timedelta(minutes=10)  # still inside the hour the sign is valid for
    # The attacker keeps zhangsan's headers and writes a body as the approver lisi.
    forged = robot_payload("同意 A1", "forged-1", staff_id="ding_lisi", conversation="cid-single-lisi", at=at)
    response = client.post("/dingtalk/robot", data=json.dumps(forged, ensure_ascii=False).encode(),
                           headers=robot_headers(quote, at))
    assert response.status_code == 403
    pump(runtime, channel, clock.now)
    with runtime.factory() as s:
        assert s.scalars(select(Approval)).one().status == "pending"
        assert s.scalar(select(func.count()).select_from(InboundItem)
                        .where(InboundItem.dedupe_key == "msg:forged-1")) == 0


def test_a_genuine_retry_with_the_same_msgid_is_acknowledged_and_handled_once(client, runtime, channel, clock):
    quote, at = _submit_quote(client, runtime, channel)
    clock.now = at + timedelta(seconds=5)
    assert post_robot(client, quote, at=at).status_code == 200  # DingTalk resends the same body
    pump(runtime, channel, clock.now)
    with runtime.factory() as s:
        assert s.scalar(select(func.count()).select_from(Approval)) == 1


def test_two_workers_racing_on_one_pair_bind_one_msgid(factory):
    later = NOW + timedelta(hours=2)
    with transaction(factory) as s:
        assert claim_signature(s, "1", "sig", "a", NOW, later)
    with transaction(factory) as s:
        assert claim_signature(s, "1", "sig", "a", NOW, later)  # the retry
        assert not claim_signature(s, "1", "sig", "b", NOW, later)


def test_pairs_past_their_window_are_deleted(factory):
    with transaction(factory) as s:
        claim_signature(s, "1", "sig", "a", NOW, NOW + timedelta(hours=2))
    with transaction(factory) as s:
        claim_signature(s, "2", "sig2", "b", NOW + timedelta(hours=3), NOW + timedelta(hours=5))
    with factory() as s:
        assert s.scalars(select(RobotSignature.timestamp)).all() == ["2"]
