"""End to end over HTTP: a rep links a customer and reports what the customer said; the cards reach the
rep through the fake's message/send — also when WeCom rate-limits or is down for a while."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import select

from handlers import outbox
from handlers.context import Context
from handlers.model import Button, Card
from storage.db import transaction
from storage.models import Customer, Message, OutboxItem
from tests.fakes.wecom import message_text
from tests.wecom.conftest import run_jobs

HAS_RISK = importlib.util.find_spec("handlers.risk") is not None
WORDS = "客户说友商的报价比我们便宜两成，想让我们降价"


def link_and_report(sender, runtime, channels, clock) -> None:
    assert sender.text("zhangsan", "关联 华为技术有限公司", "8001").status_code == 200
    run_jobs(runtime, channels, clock())
    clock.advance(minutes=1)
    assert sender.text("zhangsan", WORDS, "8002").status_code == 200


def texts_to(fake, user: str) -> list[str]:
    return [message_text(b) for b in fake.sent() if b["touser"] == user]


def test_link_report_and_cards_arrive(sender, runtime, channels, fake_wecom, clock):
    link_and_report(sender, runtime, channels, clock)
    run_jobs(runtime, channels, clock())
    to_rep = texts_to(fake_wecom, "zhangsan")
    assert "已新建并关联客户" in to_rep[0] and "华为技术有限公司" in to_rep[0]
    assert any("已记录" in t and "华为技术有限公司" in t for t in to_rep)
    with runtime.factory() as s:
        customer = s.scalars(select(Customer)).one()
        note = s.scalars(select(Message).where(Message.platform_msg_id == "8002")).one()
    assert customer.owner_id == "zhangsan"
    assert note.customer_id == customer.id and note.source == "note" and note.text == WORDS
    if HAS_RISK:  # the keyword engine and risk cards (built alongside) raise the risk too
        risk_cards = [b for b in fake_wecom.sent() if "风险" in message_text(b)]
        assert {b["touser"] for b in risk_cards} >= {"lisi"}
        assert all(b["msgtype"] == "template_card" for b in risk_cards)  # they offer a button


def test_cards_arrive_after_45009_twice(sender, runtime, channels, fake_wecom, clock):
    link_and_report(sender, runtime, channels, clock)
    fake_wecom.fail("message/send", 45009, times=2, user="zhangsan")
    first = run_jobs(runtime, channels, clock())
    assert first.retried
    for _ in range(10):
        clock.advance(seconds=61)  # 45009 asks for a minute
        run_jobs(runtime, channels, clock())
    to_rep = texts_to(fake_wecom, "zhangsan")
    assert sum("已记录" in t for t in to_rep) == 1
    with runtime.factory() as s:
        rows = list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))
    assert {o.status for o in rows} == {"sent"}
    assert sum(o.attempts for o in rows if o.target == "zhangsan") == len(rows_to(rows, "zhangsan")) + 2


def rows_to(rows: list[OutboxItem], user: str) -> list[OutboxItem]:
    return [o for o in rows if o.target == user]


@pytest.mark.parametrize("how", ["503", "refused"])
def test_cards_arrive_after_wecom_was_down(sender, runtime, channels, fake_wecom, clock, how):
    link_and_report(sender, runtime, channels, clock)
    fake_wecom.go_down(how)
    for _ in range(10):  # five minutes of outage, the worker pumping every 30 s
        run_jobs(runtime, channels, clock())
        clock.advance(seconds=30)
    assert texts_to(fake_wecom, "zhangsan")[1:] == []  # only the link reply got out before the outage
    fake_wecom.come_back()
    for _ in range(20):
        clock.advance(minutes=1)
        run_jobs(runtime, channels, clock())
    assert sum("已记录" in t for t in texts_to(fake_wecom, "zhangsan")) == 1
    with runtime.factory() as s:
        assert {o.status for o in s.scalars(select(OutboxItem))} == {"sent"}


def test_tapping_a_card_button_runs_the_command_as_the_tapper_and_updates_the_card(
        sender, runtime, channels, fake_wecom, clock):
    link_and_report(sender, runtime, channels, clock)
    with transaction(runtime.factory) as session:
        outbox.post(Context(session, runtime.settings, clock()),
                    [Card(title="今日跟进", lines=("请确认当前客户。",), buttons=(Button("查看客户", "客户"),),
                          recipients=("zhangsan",))])
    run_jobs(runtime, channels, clock())
    [card] = [b for b in fake_wecom.sent() if b["msgtype"] == "template_card" and "今日跟进" in message_text(b)]
    button = card["template_card"]["button_list"][0]
    assert button["key"] == "客户"
    clock.advance(minutes=1)
    resp = sender.event("template_card_event", FromUserName="zhangsan", EventKey=button["key"],
                        TaskId=card["template_card"]["task_id"], CardType="button_interaction",
                        ResponseCode="rc-77", AgentID="218")
    assert resp.status_code == 200 and fake_wecom.calls("message/update_template_card") == []
    run_jobs(runtime, channels, clock())
    [update] = fake_wecom.calls("message/update_template_card")
    assert update.json["response_code"] == "rc-77" and update.json["userids"] == ["zhangsan"]
    shown = update.json["template_card"]
    assert shown["main_title"]["title"] == "客户：华为技术有限公司"
    assert "负责人：张三" in shown["sub_title_text"]


def test_a_tap_from_someone_outside_the_directory_runs_nothing(sender, runtime, channels, fake_wecom, clock):
    sender.event("template_card_event", FromUserName="stranger", EventKey="关联 恶意客户", TaskId="t1",
                 ResponseCode="rc-5")
    run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        assert s.scalars(select(Customer)).all() == []
    [update] = fake_wecom.calls("message/update_template_card")
    assert update.json["userids"] == ["stranger"] and "无法执行" in update.json["template_card"]["main_title"]["title"]
