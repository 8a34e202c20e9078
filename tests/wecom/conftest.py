"""WeCom fixtures: the fake WeCom API, settings pointing at it, really encrypted and signed callbacks.

The token, EncodingAESKey and CorpID are those of WeCom's documentation example, so the official
vectors verify with the same settings every other test uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.channels import ConsoleChannel
from bot.config import Settings, load_settings
from bot.runtime import Runtime
from bot.wecom import build_channel, wire_services
from bot.wecom_crypto import WeComCrypto
from handlers import archive, contacts
from scheduler.delivery import DeliveryReport, deliver_due
from scheduler.inbound import process_inbound
from tests.conftest import Clock
from tests.fakes.wecom import FakeWeComServer

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "wecom_vectors.json").read_text(encoding="utf-8"))
TOKEN = VECTORS["token"]
AES_KEY = VECTORS["encoding_aes_key"]
CORP_ID = VECTORS["corp_id"]
AGENT_ID = 218
APP_SECRET = "fake-app-secret"
CONTACT_SECRET = "fake-contact-secret"




def wecom_toml(api_base: str, timeout: float = 2.0, extra: str = "") -> str:
    return f"""
[wecom]
corp_id = "{CORP_ID}"
agent_id = {AGENT_ID}
secret = "{APP_SECRET}"
contact_secret = "{CONTACT_SECRET}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
api_base = "{api_base}"
timeout_seconds = {timeout}
{extra}
"""


@pytest.fixture
def fake_wecom() -> Iterator[FakeWeComServer]:
    with FakeWeComServer(corp_id=CORP_ID, secrets=(APP_SECRET, CONTACT_SECRET)) as fake:
        yield fake


@pytest.fixture
def settings(write_config: Callable[..., Path], fake_wecom: FakeWeComServer) -> Settings:
    """The shared test directory and rules, with WeCom pointed at the fake."""
    return load_settings(write_config(wecom_toml(fake_wecom.api_base)), environ={})


@pytest.fixture
def channels(runtime: Runtime) -> Iterator[dict[str, Any]]:
    """The channels a worker would have, and the WeCom services (contact directory) wired as it does."""
    wire_services(runtime.settings, runtime.factory)
    yield {"console": ConsoleChannel(), "wecom": build_channel(runtime.settings, runtime.factory)}
    contacts.register_directory("wecom", None)
    archive.register_source("wecom", None)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


class Sender:
    """Posts really encrypted, really signed callbacks, as WeCom would."""

    def __init__(self, client: FlaskClient, crypto: WeComCrypto, clock: Clock) -> None:
        self.client, self.crypto, self.clock = client, crypto, clock
        self.nonce = 1000

    def post_xml(self, xml: str, **overrides: str) -> TestResponse:
        timestamp = str(int(self.clock().timestamp()))
        self.nonce += 1
        body = self.crypto.seal(xml, timestamp, str(self.nonce), AGENT_ID)
        query = {"msg_signature": self.crypto.sign_body(body, timestamp, str(self.nonce)),
                 "timestamp": timestamp, "nonce": str(self.nonce), **overrides}
        return self.client.post("/wecom/callback?" + urlencode(query), data=body,
                                content_type="text/xml")

    def text(self, sender: str, content: str, msg_id: str) -> TestResponse:
        return self.post_xml(text_xml(sender, content, msg_id, self.clock()))

    def event(self, event: str, **fields: str) -> TestResponse:
        return self.post_xml(event_xml(event, self.clock(), **fields))


@pytest.fixture
def sender(client: FlaskClient, crypto: WeComCrypto, clock: Clock) -> Sender:
    return Sender(client, crypto, clock)


def text_xml(sender: str, content: str, msg_id: str, at: datetime) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>")


def event_xml(event: str, at: datetime, **fields: str) -> str:
    sender = fields.pop("FromUserName", "sys")
    extra = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{int(at.timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{extra}</xml>")


def run_jobs(runtime: Runtime, channels: dict[str, Any], now: datetime) -> DeliveryReport:
    """What the worker does on each pump: handle stored items, then send what is due."""
    process_inbound(runtime.factory, runtime.settings, now, "test-worker")
    return deliver_due(runtime.factory, channels, now, runtime.settings.delivery, "test-worker",
                       rng=lambda: 0.5)
