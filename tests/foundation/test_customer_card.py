"""The 客户 command: what a rep sees about the current customer."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import create_app
from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers.model import InboundMessage
from scheduler.inbound import process_inbound
from storage.models import OutboxItem
from tests.conftest import NOW


def test_customer_card_shows_owner_todos_approvals_and_open_risks(write_config, engine, factory):
    settings = load_settings(write_config('[[approvals]]\nkind = "quote"\nsteps = [{ approver = "manager" }]\n'),
                             environ={})
    runtime = Runtime(SettingsHolder(settings), engine, factory)
    sync_directory(runtime)
    st = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    for i, text in enumerate(["关联 华为技术有限公司", "客户说别家更便宜，还问账期能不能放长", "报价 华为技术有限公司 68万",
                              "客户"]):
        st.accept(InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan", text=text,
                                 msg_id=f"m{i}", time=NOW))
    process_inbound(runtime.factory, runtime.settings, NOW, "w")
    with runtime.factory() as s:
        card = [o.card for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))][-1]
    assert card["title"] == "客户：华为技术有限公司"
    text = "\n".join(card["lines"])
    assert "负责人：张三" in text and "最近活动：2026-11-02 17:00" in text  # China time
    assert "未完成待办：1 项" in text and "账期咨询" in text
    assert "进行中的审批：1 项" in text and "报价 ￥680,000" in text
    assert "未关闭的风险：2 项" in text and "竞品威胁「别家」" in text and "降价压力「便宜」" in text
