"""The DingTalk session reply URL travels as an opaque reply address handlers only pass back, and
building channels wires no handler service: that happens explicitly where the runtime is built."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

from bot.channels import build_channels, wire_services
from handlers import archive, contacts
from handlers.model import Address, InboundMessage
from tests.conftest import NOW


def test_the_neutral_message_names_no_platform_reply_mechanism():
    assert [f.name for f in fields(InboundMessage) if "reply" in f.name] == ["reply_ref", "reply_ref_expires"]


def test_a_message_stored_before_the_upgrade_keeps_its_session_reply():
    hook = "https://oapi.dingtalk.com/robot/sendBySession?session=s1"
    stored = {"platform": "dingtalk", "sender": "ding_zhangsan", "conversation": "cid1", "text": "帮助",
              "msg_id": "m1", "time": NOW.isoformat(), "reply_webhook": hook,
              "reply_webhook_expires": (NOW + timedelta(minutes=90)).isoformat()}
    msg = InboundMessage.from_dict(stored)
    assert msg.reply_address() == Address("dingtalk", "ding_zhangsan", hook, NOW + timedelta(minutes=90))


def test_building_channels_registers_no_service_until_wired(write_config):
    from bot.config import load_settings

    archive_toml = ('[wecom]\ncorp_id = "ww1"\nagent_id = 1\nsecret = "s"\ntoken = "t"\n'
                    'encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"\n'
                    '[wecom.archive]\nsdk_path = "/nonexistent/sdk.so"\nprivate_key_path = "/nonexistent/key.pem"\n'
                    'secret = "a"\n')
    settings = load_settings(write_config(archive_toml), environ={})
    contacts.register_directory("wecom", None)
    archive.register_source("wecom", None)
    try:
        channels = build_channels(settings, None)  # type: ignore[arg-type]
        assert "wecom" in channels
        assert "wecom" not in contacts._directories and archive.configured_platforms() == []
        wire_services(settings, None)  # type: ignore[arg-type]
        assert "wecom" in contacts._directories and archive.configured_platforms() == ["wecom"]
    finally:
        contacts.register_directory("wecom", None)
        archive.register_source("wecom", None)
