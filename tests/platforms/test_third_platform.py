"""A third platform is its own modules plus one registration: the toy "lark" platform receives a
message, the handlers answer it, and the answer leaves through the outbox on lark's own channel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot import platforms
from bot.app import create_app
from bot.channels import build_channels
from bot.config import ConfigError, load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers.context import Context
from handlers.model import Address
from handlers.outbox import address_of
from scheduler.delivery import deliver_due
from scheduler.inbound import process_inbound
from storage import directory
from tests.platforms.toy_lark import LARK

LARK_TOML = """
[lark]
app_id = "cli_toy"
token = "lark-token"

[[users]]
id = "xiaoming"
name = "小明"
role = "rep"
manager = "lisi"
lark_userid = "ou_xiaoming"
prefer = "lark"
"""


@pytest.fixture
def lark() -> Iterator[None]:
    platforms.register(LARK)  # the one registration line a real platform adds to bot/platforms.py
    yield
    platforms.unregister("lark")


def _post(client, text: str, sender: str = "ou_xiaoming", msg_id: str = "om_1", token: str = "lark-token"):
    return client.post("/lark/events", headers={"X-Lark-Token": token},
                       json={"open_id": sender, "chat_id": f"p2p-{sender}", "text": text, "message_id": msg_id})


def test_a_message_goes_in_and_the_reply_comes_out_through_the_toy_platform(lark, write_config, engine, factory,
                                                                            clock):
    settings = load_settings(write_config(LARK_TOML), environ={})
    assert settings.enabled_platforms == ("lark",)
    runtime = Runtime(SettingsHolder(settings), engine, factory)
    sync_directory(runtime)  # lark_userid lands in user_identities like any platform id
    client = create_app(runtime=runtime, clock=clock).test_client()

    assert _post(client, "待办").status_code == 200
    assert _post(client, "待办", token="forged").status_code == 403  # its own verification guards it
    assert _post(client, "帮助", sender="ou_stranger", msg_id="om_2").status_code == 200
    assert process_inbound(factory, settings, clock(), "w") == 2
    channels = build_channels(settings, factory)
    report = deliver_due(factory, channels, clock(), settings.delivery, "w", rng=lambda: 0.5)

    sent = {address.user: card for address, card in channels["lark"].sent}
    assert set(sent) == {"ou_xiaoming", "ou_stranger"} and report is not None
    assert "你没有未完成的待办。" in sent["ou_xiaoming"].text()  # recognised by the lark id: a member's reply
    assert "通讯录" in sent["ou_stranger"].text()  # not in the directory: told so, on lark
    with factory() as session:
        user = directory.by_platform_id(session, "lark", "ou_xiaoming")
        assert user is not None and user.id == "xiaoming"
        # cards addressed to the user (not replies) go to their lark id too
        assert address_of(Context(session, settings, clock()), user) == Address("lark", "ou_xiaoming")


def test_without_the_registration_its_config_is_refused(write_config):
    with pytest.raises(ConfigError, match="lark: 没有这个段"):
        load_settings(write_config(LARK_TOML), environ={})
