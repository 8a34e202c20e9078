"""Stream mode against a fake gateway that speaks the real protocol: open a connection, receive
CALLBACK/EVENT/SYSTEM frames over a websocket, ACK each; the items join the usual pipeline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.app import AppState
from bot.cli import build_parser
from bot.dingtalk_stream import SalesbotStreamClient, StreamRunner
from scheduler.inbound import process_inbound
from storage.models import Customer, InboundItem, OrgEvent
from tests.conftest import NOW
from tests.dingtalk.conftest import APP_KEY, APP_SECRET, pump, robot_payload
from tests.fakes.dingtalk import FakeDingTalkServer, FakeStreamGateway

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


@pytest.fixture
def gateway(fake_dingtalk: FakeDingTalkServer) -> Iterator[FakeStreamGateway]:
    with FakeStreamGateway() as gw:
        fake_dingtalk.gateway = gw
        yield gw


@pytest.fixture
def stream(runtime, clock, gateway) -> Iterator[SalesbotStreamClient]:
    state = AppState(runtime, lambda: None, clock)
    client = SalesbotStreamClient(runtime.settings.dingtalk, state.accept, clock)
    client.reconnect_delay = 0.01
    runner = StreamRunner(client)
    thread = threading.Thread(target=runner.run, name="stream-client", daemon=True)
    thread.start()
    assert gateway.wait_for_connections(1)
    yield client
    runner.stop()
    thread.join(10)
    assert not thread.is_alive(), "the stream client did not stop"


def _count(runtime, model) -> int:
    with runtime.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_connection_is_opened_with_the_app_credentials_at_the_configured_host(stream, gateway, fake_dingtalk):
    [opened] = fake_dingtalk.calls("/v1.0/gateway/connections/open")
    body = opened.json
    assert (body["clientId"], body["clientSecret"]) == (APP_KEY, APP_SECRET)
    assert {"type": "CALLBACK", "topic": ROBOT_TOPIC} in body["subscriptions"]
    assert {"type": "EVENT", "topic": "*"} in body["subscriptions"]
    assert "ticket=" in gateway.connected_paths[0]


def test_robot_message_over_stream_is_acked_and_handled(stream, gateway, runtime, channel, fake_dingtalk):
    payload = robot_payload("关联 华为技术有限公司", "stream-1", webhook=fake_dingtalk.session_webhook("s-stream"))
    ack = gateway.push_callback(payload)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": "OK"}
    assert gateway.push_callback(payload)["code"] == 200  # redelivered: acknowledged, stored once
    assert _count(runtime, InboundItem) == 1
    pump(runtime, channel, NOW)
    with runtime.factory() as s:
        assert s.scalars(select(Customer.name)).one() == "华为技术有限公司"
    [reply] = fake_dingtalk.calls("/robot/sendBySession")
    assert reply.query["session"] == "s-stream" and "已新建并关联客户" in reply.markdown["text"]


def test_org_events_over_stream_are_stored_once(stream, gateway, runtime):
    data = {"eventId": "e-1", "userId": ["ding_zhangsan"], "optStaffId": "ding_sunqi"}
    assert gateway.push_event("user_leave_org", data, event_id="e-1")["code"] == 200
    assert gateway.push_event("user_leave_org", data, event_id="e-1")["code"] == 200
    assert gateway.push_event("org_dept_create", {"deptId": [7]}, event_id="e-2")["code"] == 200
    assert process_inbound(runtime.factory, runtime.settings, NOW, "w") == 1  # org_dept_create: not stored
    with runtime.factory() as s:
        row = s.scalars(select(OrgEvent)).one()
    assert (row.kind, row.platform_user_ids) == ("member_left", "ding_zhangsan")


def test_ping_is_echoed_and_malformed_messages_are_refused(stream, gateway, runtime):
    pong = gateway.push_system("ping", {"opaque": "op-42"})
    assert pong["code"] == 200 and json.loads(pong["data"]) == {"opaque": "op-42"}
    assert gateway.push_callback({"msgtype": "text", "text": {"content": "hi"}})["code"] == 400
    assert _count(runtime, InboundItem) == 0


def test_the_client_reconnects_when_the_gateway_asks(stream, gateway, fake_dingtalk, runtime):
    assert gateway.push_system("disconnect")["code"] == 200
    assert gateway.wait_for_connections(2)
    assert len(fake_dingtalk.calls("/v1.0/gateway/connections/open")) == 2  # a fresh ticket
    assert gateway.push_callback(robot_payload("帮助", "after-reconnect"))["code"] == 200
    assert _count(runtime, InboundItem) == 1


def test_the_cli_offers_the_stream_command():
    args = build_parser().parse_args(["dingtalk-stream", "--no-worker", "--config", "x.toml"])
    assert args.no_worker and args.config == "x.toml" and args.func.__name__ == "cmd_stream"


def test_an_id_too_long_to_store_is_refused_over_stream(stream, gateway, runtime):
    assert gateway.push_callback(robot_payload("你好", "m" * 200))["code"] == 400
    assert _count(runtime, InboundItem) == 0
