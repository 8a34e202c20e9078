"""A console-platform message travels: stored → handled → card queued → delivered to the log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import create_app
from bot.channels import ConsoleChannel
from handlers.model import InboundMessage
from scheduler.delivery import deliver_due
from scheduler.inbound import process_inbound
from storage.models import Customer, OutboxItem, User
from tests.conftest import NOW


def _msg(text: str, msg_id: str, sender: str = "zhangsan") -> InboundMessage:
    return InboundMessage(platform="console", sender=sender, conversation=sender, text=text, msg_id=msg_id,
                          time=NOW)


def test_link_command_creates_customer_and_replies(runtime, caplog):
    app = create_app(runtime=runtime, clock=lambda: NOW)
    st = app.extensions["salesbot"]
    assert st.accept(_msg("关联 华为技术有限公司", "m1")) is True
    assert st.accept(_msg("关联 华为技术有限公司", "m1")) is False  # a platform retry
    assert process_inbound(runtime.factory, runtime.settings, NOW, "w1") == 1
    with runtime.factory() as s:
        customer = s.scalars(select(Customer)).one()
        assert customer.name == "华为技术有限公司" and customer.owner_id == "zhangsan"
        assert s.get(User, "zhangsan").current_customer_id == customer.id
    caplog.set_level("INFO", logger="salesbot.cards")
    report = deliver_due(runtime.factory, {"console": ConsoleChannel()}, NOW + timedelta(seconds=1),
                         runtime.settings.delivery, "w1")
    assert len(report.sent) == 1
    assert "已新建并关联客户" in caplog.text


def test_similar_name_asks_instead_of_duplicating(runtime):
    app = create_app(runtime=runtime, clock=lambda: NOW)
    st = app.extensions["salesbot"]
    st.accept(_msg("关联 华为技术有限公司", "m1"))
    st.accept(_msg("关联 华为", "m2"))
    process_inbound(runtime.factory, runtime.settings, NOW, "w1")
    with runtime.factory() as s:
        assert len(s.scalars(select(Customer)).all()) == 1
        cards = [o.card for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]
    assert cards[-1]["title"] == "请确认客户"
    assert any("新客户 华为" in line for line in cards[-1]["lines"])
