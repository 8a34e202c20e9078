"""The weekly report: sent by the tick once per manager per week at [report] weekday/hour; its figures
are the hand count's; `salesbot report` prints it or writes it as HTML."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.config import Settings
from scheduler.jobs import run_tick
from storage.models import OutboxItem
from tests.health.conftest import FRIDAY


def _report_cards(factory: sessionmaker[Session]) -> dict[str, dict[str, object]]:
    with factory() as s:
        rows = s.scalars(select(OutboxItem).where(OutboxItem.dedupe_key.like("report:%"))).all()
        return {row.recipient_id or "": row.card for row in rows}


@pytest.mark.usefixtures("week_data")
def test_friday_tick_sends_each_manager_one_card(factory: sessionmaker[Session], settings: Settings) -> None:
    assert not [line for line in run_tick(factory, settings, FRIDAY - timedelta(minutes=1)) if "report" in line]
    assert _report_cards(factory) == {}
    lines = run_tick(factory, settings, FRIDAY)
    assert sorted(line for line in lines if line.startswith("weekly_report")) == [
        "weekly_report: 2026-W45: report -> lisi", "weekly_report: 2026-W45: report -> wangwu"]
    assert not [line for line in run_tick(factory, settings, FRIDAY + timedelta(hours=1)) if "report" in line]
    cards = _report_cards(factory)
    assert set(cards) == {"lisi", "wangwu"}
    lisi = cards["lisi"]
    assert lisi["title"] == "流程健康周报 2026-W45（李四团队）"
    body = list(lisi["lines"])  # type: ignore[call-overload]
    assert "🔴 5 个工作日内审批完成：67%（上周 —）" in body  # 2 of 3 (B took longer): below the 70 % yellow line
    assert "🟡 审批周期（中位）：30.0 小时（上周 —）" in body
    assert "🟡 逾期未完成待办：2（上周 1）" in body  # last week (as of Monday 00:00) only T5 was overdue
    assert "⚪ 线索首次联系及时率：—（上周 —）" in body  # no leads in this week's data: no figure, no colour
    assert not any(line.startswith("暂无数据") for line in body)
    stuck = body[body.index("【卡得最久的事项】") + 1:]
    assert len(stuck) == 3
    assert stuck[0].startswith("· 待办 T")  # T5, overdue since October
    assert "审批 A" in stuck[1] and "在 王五 处" in stuck[1]  # D waits on wangwu
    assert "https://salesbot.example.com/board/oauth/enter?next=/board/approvals/A" in stuck[1]
    assert lisi["link"] == "https://salesbot.example.com/board/oauth/enter?next=/board/health"


@pytest.mark.usefixtures("week_data")
def test_report_hour_comes_from_the_config(factory: sessionmaker[Session], write_config, ) -> None:  # type: ignore[no-untyped-def]
    from bot.config import load_settings
    from tests.health.conftest import XIAOMING

    monday = load_settings(write_config("[report]\nweekday = 1\nhour = 9\n" + XIAOMING), environ={})
    lines = run_tick(factory, monday, FRIDAY - timedelta(days=4) + timedelta(hours=-7))  # Monday 10:00 local
    assert "weekly_report: 2026-W45: report -> lisi" in lines


@pytest.mark.usefixtures("week_data")
def test_report_command_prints_and_writes_html(write_config, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.health.conftest import XIAOMING

    config = write_config(XIAOMING)
    assert main(["report", "--week", "2026-W45", "--team", "lisi", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("流程健康周报 2026-W45（李四团队）\n")
    assert "审批周期（中位）：30.0 小时" in out
    page = tmp_path / "r.html"
    assert main(["report", "--week", "2026-W45", "--html", str(page), "--config", str(config)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<h1>流程健康周报 2026-W45（全公司）</h1>" in html
    assert main(["report", "--week", "2026-W54", "--config", str(config)]) == 2
    assert main(["report", "--team", "nobody", "--config", str(config)]) == 1
