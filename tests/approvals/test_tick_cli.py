"""`salesbot tick --at` in a separate process: state lives in the database, so a second run — a restart
— repeats nothing, and what the first run raised is delivered (console channel) before it exits."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from storage.models import OutboxItem
from tests.approvals.conftest import Chat
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[2]


def salesbot_tick(config: str, at: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "tick", "--at", at, "--config", config],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_tick_command_escalates_once_across_runs(chat: Chat) -> None:
    chat.add_customer("华为技术有限公司")
    chat.say("zhangsan", "报价 华为技术有限公司 680000")
    at = (NOW + timedelta(hours=25)).astimezone().isoformat()  # any zone: the CLI converts

    first = salesbot_tick(chat.runtime.settings.source, at)
    assert first.returncode == 0, first.stderr
    assert "approval_sla: A1 step 1: level 1 -> ['wangwu']" in first.stdout
    assert json.loads(first.stdout.strip().splitlines()[-1])["actions"] == 1
    assert "审批超时一级升级：A1 已等 1 天 1 小时" in first.stderr  # the console channel logs the card

    second = salesbot_tick(chat.runtime.settings.source, at)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.strip().splitlines()[-1])["actions"] == 0

    with chat.factory() as s:
        rows = s.scalars(select(OutboxItem).where(OutboxItem.dedupe_key.like("esc:%"))).all()
    assert sorted((r.recipient_id, r.status) for r in rows) == [("lisi", "sent"), ("wangwu", "sent")]
