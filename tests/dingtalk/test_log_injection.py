"""Untrusted values are logged escaped: a msgId with a newline cannot write a forged log line."""

from __future__ import annotations

import logging

from bot.channels import ConsoleChannel
from bot.dingtalk_sign import MalformedRequest
from handlers.model import Address, Card
from tests.conftest import NOW
from tests.dingtalk.conftest import post_robot, robot_payload

FORGED = "m1\n2026-11-02 09:00:00 INFO handlers.approvals: A1 approved by lisi"


def test_a_msgid_with_a_newline_is_logged_escaped(client, caplog):
    caplog.set_level(logging.INFO)
    payload = robot_payload("你好", FORGED)
    assert post_robot(client, payload).status_code == 200
    assert post_robot(client, payload).status_code == 200  # the repeat is logged with its msgId
    [line] = [r.getMessage() for r in caplog.records if "is a repeat" in r.getMessage()]
    assert "\n" not in line and "m1\\n2026-11-02" in line


def test_an_exception_carrying_input_is_logged_escaped(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("bot.dingtalk").warning("refused: %s", MalformedRequest(f"unknown conversationType {FORGED}"))
    [message] = [r.getMessage() for r in caplog.records]
    assert "\n" not in message and "m1\\n2026" in message


def test_cards_in_the_log_keep_their_lines_but_none_passes_for_a_record(caplog):
    caplog.set_level(logging.INFO)
    card = Card(title="风险", lines=("客户说：\n2026-11-02 INFO forged\x1b[31m",))
    ConsoleChannel().send(card, Address("console", "lisi"), NOW)
    [message] = [r.getMessage() for r in caplog.records]
    assert all(line.startswith("    ") for line in message.splitlines()[1:])
    assert "\x1b" not in message and "\\x1b" in message
