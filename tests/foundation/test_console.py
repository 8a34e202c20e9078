"""`salesbot demo` then `salesbot console` driven by a script on stdin, as a newcomer would try the bot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.cli import main
from bot.config import load_settings
from bot.demo import demo_users
from storage.db import make_engine, make_session_factory
from storage.models import Approval, Customer, Todo

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config.example.toml"
CUSTOMER = "杭州云帆网络科技有限公司"


def _config(tmp_path: Path, db_url: str) -> Path:
    """config.example.toml as shipped, on this test's database."""
    text = EXAMPLE.read_text(encoding="utf-8").replace('url = "sqlite:///salesbot.db"', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _salesbot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESBOT_")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)


def _cards(transcript: str) -> list[tuple[str, str]]:
    """(recipient id, card text) for every card the console printed."""
    blocks = re.findall(r"┌─ 卡片 → .*?（(\w+)）\n(.*?)\n└─", transcript, flags=re.S)
    return [(who, body) for who, body in blocks]


def test_scripted_console_session_on_a_demo_database(tmp_path: Path, db_url: str):
    config = _config(tmp_path, db_url)
    demo = _salesbot("demo", "--config", str(config))
    assert demo.returncode == 0, demo.stderr
    assert "salesbot console --as zhangsan" in demo.stdout

    script = "\n".join([
        "/cards",
        f"关联 {CUSTOMER}",
        f"/customer {CUSTOMER} 友商更便宜，我们在考虑换一家",
        f"报价 {CUSTOMER} 680000 含三年维保",
        "/as lisi",
        "审批",
        "/quit-not-a-command",
    ]) + "\n"
    first = _salesbot("console", "--as", "zhangsan", "--config", str(config), stdin=script)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    # the demo's history is there: its customers' cards went to zhangsan and lisi
    assert "【已提交报价审批 A1】" in out and "【新待办 T1：样品需求】" in out
    assert "zhangsan> 关联 杭州云帆网络科技有限公司" in out  # a script is echoed, so the transcript reads
    cards = _cards(out)
    assert ("zhangsan", f"│ 【已新建并关联客户】\n│ 客户：{CUSTOMER}（负责人：张三）\n│ 之后你发给我的记录都会记到这个客户名下。") in cards
    risk = [(who, body) for who, body in cards if "竞品威胁" in body and "友商" in body]
    assert {who for who, _ in risk} == {"zhangsan", "lisi"}  # one competitor risk reaches rep and manager
    assert len(risk) == 2
    [code] = [m for w, b in cards for m in re.findall(r"^│ 【已提交报价审批 (A\d+)】", b) if w == "zhangsan"]
    assert code != "A1"  # A1 is the demo's open quote
    [(who, request)] = [(w, b) for w, b in cards if f"【报价审批 {code}（第 1/3 步）】" in b]
    assert who == "lisi" and "￥680,000" in request and f"「同意 {code}」" in request
    assert "没有 /quit-not-a-command 这个控制命令" in out

    # a second session on the same database: what happened before is still there
    script = "\n".join([f"同意 {code}", "/time +25h", "/time +1h", "/quit", "这一行不会被读到"]) + "\n"
    second = _salesbot("console", "--as", "lisi", "--config", str(config), stdin=script)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    cards = _cards(out)
    assert ("wangwu", f"【报价审批 {code}（第 2/3 步）】") in [(w, b.split("\n")[0][2:]) for w, b in cards]
    tick_lines = re.findall(rf"· approval_sla: {code} step (\d+): level (\d+)", out)
    assert tick_lines == [("2", "1")]  # the second step escalates once, in the first /time only
    reminders = [(w, b) for w, b in cards if re.search(rf"【审批提醒（第 1 次）：{code} ", b)]
    assert [w for w, _ in reminders] == ["wangwu"] and "第 2/3 步" in reminders[0][1]
    assert "这一行不会被读到" not in out

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            approval = s.get(Approval, int(code[1:]))
            assert approval is not None and approval.status == "pending"
            steps = approval.steps
            assert [(st.status, st.escalation_level) for st in steps] == [("approved", 0), ("pending", 1),
                                                                         ("waiting", 0)]
            assert s.scalars(select(Customer).where(Customer.name == CUSTOMER)).one().owner_id == "zhangsan"
    finally:
        engine.dispose()


def test_demo_refuses_a_database_that_holds_data_unless_forced(tmp_path: Path, db_url: str, capsys):
    config = _config(tmp_path, db_url)
    assert main(["demo", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["demo", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "already holds data (3 customers" in err and "--force" in err
    assert main(["demo", "--force", "--config", str(config)]) == 0
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            assert len(s.scalars(select(Customer)).all()) == 3  # wiped and made again, not doubled
            overdue = [t for t in s.scalars(select(Todo)) if t.status == "open" and t.due_at is not None]
            assert overdue, "the demo has an open to-do"
            assert s.scalars(select(Approval)).one().status == "pending"
    finally:
        engine.dispose()


def test_demo_org_is_the_example_config_org():
    example = load_settings(EXAMPLE, environ={})
    assert demo_users(load_settings(EXAMPLE, environ={})) == example.users
    from bot.config import Settings

    assert demo_users(Settings()) == example.users  # the embedded default has no [[users]]: the example's


def test_console_refuses_an_unknown_user(tmp_path: Path, db_url: str, capsys):
    config = _config(tmp_path, db_url)
    assert main(["console", "--as", "nobody", "--config", str(config)]) == 1
    assert "no active user 'nobody'" in capsys.readouterr().err


def test_console_refuses_a_database_a_platform_worker_is_using(tmp_path: Path, db_url: str, capsys):
    from datetime import UTC, datetime, timedelta

    from storage.db import transaction
    from storage.models import Lease, OutboxItem

    config = _config(tmp_path, db_url)
    assert main(["demo", "--config", str(config)]) == 0
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    try:
        with transaction(factory) as s:
            s.add(Lease(name="scheduler", holder="web1:42:1", expires_at=now + timedelta(seconds=60)))
        assert main(["console", "--as", "zhangsan", "--config", str(config)]) == 1
        assert "a salesbot serve or worker (web1:42:1) is running" in capsys.readouterr().err
        with transaction(factory) as s:
            s.get(Lease, "scheduler").expires_at = now - timedelta(seconds=1)  # type: ignore[union-attr]
            s.add(OutboxItem(channel="wecom", target="zhangsan", card={"title": "x"}, status="pending",
                             attempts=0, created_at=now, next_attempt_at=now))
        assert main(["console", "--as", "zhangsan", "--config", str(config)]) == 1
        assert "0 unhandled platform messages and 1 unsent platform cards" in capsys.readouterr().err
        with factory() as s:  # the WeCom card was left alone for the platform worker
            assert s.scalars(select(OutboxItem).where(OutboxItem.channel == "wecom")).one().status == "pending"
    finally:
        engine.dispose()


def test_time_without_a_zone_is_the_configured_zone():
    from datetime import UTC, datetime

    from bot.config import Settings
    from bot.console import parse_clock

    now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert parse_clock("+25h", now, Settings()) == datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    assert parse_clock("+30m", now, Settings()) == datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    assert parse_clock("2026-11-03T09:00", now, Settings()) == datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    assert parse_clock("tomorrow", now, Settings()) is None
