"""DingTalk fixtures: a fake DingTalk on 127.0.0.1, settings pointing at it, signed-request helpers.

The app key, event token and AES key are those of DingTalk's official callback-crypto sample, so the
official vector decrypts with the same settings every other test uses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bot.channels import ConsoleChannel
from bot.config import Settings, load_settings
from bot.dingtalk import DingTalkChannel
from bot.dingtalk_sign import robot_sign
from bot.runtime import Runtime
from scheduler.delivery import DeliveryReport, deliver_due
from scheduler.inbound import process_inbound
from tests.conftest import NOW
from tests.fakes.dingtalk import FakeDingTalkServer

APP_KEY = "ding6ccabc44d2c8d38b"
APP_SECRET = "salesbot-test-app-secret"
EVENT_TOKEN = "mryue"
AES_KEY = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
AGENT_ID = 4242
ROBOT_CODE = "dingsalesbotrobot"




@pytest.fixture
def fake_dingtalk() -> Iterator[FakeDingTalkServer]:
    with FakeDingTalkServer(app_key=APP_KEY, app_secret=APP_SECRET) as fake:
        yield fake


def dingtalk_toml(base_url: str, timeout: float = 3.0) -> str:
    return f"""
[dingtalk]
app_key = "{APP_KEY}"
app_secret = "{APP_SECRET}"
agent_id = {AGENT_ID}
robot_code = "{ROBOT_CODE}"
token = "{EVENT_TOKEN}"
aes_key = "{AES_KEY}"
api_base = "{base_url}"
openapi_base = "{base_url}"
timeout_seconds = {timeout}
"""


@pytest.fixture
def settings(write_config: Callable[..., Path], fake_dingtalk: FakeDingTalkServer) -> Settings:
    """The shared test directory and rules, with DingTalk pointed at the fake."""
    return load_settings(write_config(dingtalk_toml(fake_dingtalk.url)), environ={})


@pytest.fixture
def channel(runtime: Runtime) -> Iterator[DingTalkChannel]:
    ch = DingTalkChannel(runtime.settings, runtime.factory)
    yield ch
    ch.client.close()


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def robot_payload(text: str, msg_id: str, *, staff_id: str | None = "ding_zhangsan",
                  sender_id: str = "$:LWCP_v1:$sender", conversation: str = "cid-single-zhangsan",
                  group: bool = False, at: datetime = NOW, webhook: str | None = None,
                  title: str = "") -> dict[str, Any]:
    """A robot callback body as DingTalk sends it (one-to-one unless `group`)."""
    body: dict[str, Any] = {
        "msgtype": "text", "text": {"content": f" {text}" if group else text}, "msgId": msg_id,
        "createAt": ms(at), "conversationType": "2" if group else "1", "conversationId": conversation,
        "senderId": sender_id, "senderNick": "某人", "chatbotUserId": "$:LWCP_v1:$bot",
        "robotCode": ROBOT_CODE, "isInAtList": True, "isAdmin": False,
        "sessionWebhookExpiredTime": ms(at + timedelta(minutes=90)),
    }
    if staff_id:
        body["senderStaffId"] = staff_id
    if group:
        body["conversationTitle"] = title or "华为项目群"
    if webhook:
        body["sessionWebhook"] = webhook
    return body


def signed_headers(at: datetime, secret: str = APP_SECRET) -> dict[str, str]:
    timestamp = str(ms(at))
    return {"timestamp": timestamp, "sign": robot_sign(timestamp, secret), "Content-Type": "application/json"}


def robot_headers(payload: dict[str, Any] | bytes, at: datetime = NOW) -> dict[str, str]:
    """Signed headers for one message sent at `at`: a (timestamp, sign) pair carries one msgId, so two
    messages sent in the same test second get timestamps a few milliseconds apart, as on DingTalk."""
    msg_id = payload.get("msgId", "") if isinstance(payload, dict) else payload
    offset = int(hashlib.sha1(str(msg_id).encode()).hexdigest(), 16) % 997
    return signed_headers(at + timedelta(milliseconds=offset))


def post_robot(client: FlaskClient, payload: dict[str, Any] | bytes, at: datetime = NOW) -> Any:
    """POST a really signed robot callback, as DingTalk would (a resend of a msgId carries its pair)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return client.post("/dingtalk/robot", data=body, headers=robot_headers(payload, at))


def pump(runtime: Runtime, channel: DingTalkChannel, at: datetime) -> DeliveryReport:
    """Handle what was stored, then deliver what is due, as the worker would at `at`."""
    process_inbound(runtime.factory, runtime.settings, at, "test-worker")
    return deliver_due(runtime.factory, {"dingtalk": channel, "console": ConsoleChannel()}, at, runtime.settings.delivery, "test-worker",
                       rng=lambda: 0.5)
