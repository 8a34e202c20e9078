"""Log arguments given as a mapping are escaped like positional ones; a LogBlock keeps its lines,
each continuation indented by exactly four spaces and nothing else added."""

from __future__ import annotations

import logging

import bot  # noqa: F401  (installs the escaping record factory)
from bot.log_safety import LogBlock


def test_mapping_arguments_are_escaped(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("bot.dingtalk").warning("msgId %(msg_id)s refused", {"msg_id": "m1\n2026-12-01 INFO ok"})
    [message] = [r.getMessage() for r in caplog.records]
    assert message == "msgId m1\\n2026-12-01 INFO ok refused"


def test_a_log_block_keeps_its_lines_indented_by_four_spaces(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("bot.console").info("card:\n%s", LogBlock("风险\n客户说：下周签\x1b[31m"))
    [message] = [r.getMessage() for r in caplog.records]
    assert message == "card:\n风险\n    客户说：下周签\\x1b[31m"
