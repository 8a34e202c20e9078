"""The fairness report: per rep and team by band, first-contact time, and a deviation flag; weekly card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from tests.approvals.conftest import Chat, make_chat
from tests.conftest import NOW
from tests.leads.conftest import LEADS_TOML, lead_of

TEAM_WANG = """
[[users]]
id = "xiaowang"
name = "小王"
role = "rep"
manager = "wangwu"
"""


@pytest.fixture
def two_teams(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> Chat:
    return make_chat(write_config, engine, factory, LEADS_TOML + TEAM_WANG)


def test_report_counts_bands_contact_time_and_flags_the_skewed_team(two_teams: Chat,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    chat = two_teams
    chat.now = NOW - timedelta(days=3)  # last week (NOW is a Monday)
    for name in ("星辰教育", "春芽学堂"):
        chat.say("lisi", f"线索 {name} 1380000{len(name)}00{name == '星辰教育':d} K12 50万")
    chat.say("lisi", "线索 远航物流 13800000900 物流")
    chat.now += timedelta(hours=2)
    owners = [lead_of(chat, i).owner_id for i in (1, 2)]
    assert owners == ["xiaohong", "zhangsan"]  # both K12 with budget: band A, both in 李四's team
    for i, owner in enumerate(owners, start=1):
        assert "已联系" in chat.say(owner, f"已联系 L{i}")[-1].text()
    config = chat.runtime.settings.source
    assert main(["leads", "report", "--week", "--config", config, "--at", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "小红｜李四｜1（1/0/0）｜2.0 小时｜0" in out and "张三｜李四｜1（1/0/0）｜2.0 小时｜0" in out
    assert "⚠ 李四 团队分到 100% 的优质线索，产能占比 75%"  # 老李 on leave does not count in out
    assert "⚠ 王五 团队分到 0% 的优质线索，产能占比 25%" in out
    lines = chat.tick(NOW + timedelta(minutes=5))
    assert "lead_fairness_weekly: fairness report for week 202644 sent to 2 managers" in lines
    assert chat.tick(NOW + timedelta(hours=1)) == []  # once a week
    assert any("公平性周报" in t and "⚠" in t for t in chat.texts_for("lisi"))
    assert any("公平性周报" in t for t in chat.texts_for("wangwu"))
