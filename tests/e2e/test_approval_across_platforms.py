"""End to end across both platforms, the way a deployment runs: a rep in WeCom submits a quote, the
managers approve by tapping in DingTalk, `salesbot tick --at` escalates what waits, and to-dos and
silent customers are chased. Both platform APIs are fakes on 127.0.0.1; requests are really signed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.channels import build_channels, wire_services
from bot.cli import main
from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from bot.wecom_crypto import WeComCrypto
from handlers import archive, contacts
from scheduler.delivery import deliver_due
from scheduler.inbound import process_inbound
from storage.db import make_engine, make_session_factory
from storage.models import Approval, Customer
from tests.conftest import NOW
from tests.dingtalk.conftest import APP_KEY, APP_SECRET, dingtalk_toml, post_robot, robot_payload
from tests.dingtalk.test_channel import BATCH, tapped_commands
from tests.fakes.dingtalk import FakeDingTalkServer
from tests.fakes.wecom import FakeWeComServer
from tests.wecom.conftest import AES_KEY, CONTACT_SECRET, CORP_ID, TOKEN, Clock, Sender, wecom_toml
from tests.wecom.conftest import APP_SECRET as WECOM_SECRET

# An org where the second approver (wangwu) has a manager of his own to escalate to.
ORG = """
[[users]]
id = "zhangsan"
name = "张三"
role = "rep"
manager = "lisi"
wecom_userid = "zhangsan"

[[users]]
id = "lisi"
name = "李四"
role = "manager"
manager = "wangwu"
dingtalk_userid = "ding_lisi"

[[users]]
id = "wangwu"
name = "王五"
role = "director"
manager = "zhao"
dingtalk_userid = "ding_wangwu"

[[users]]
id = "zhao"
name = "赵总"
role = "ceo"
dingtalk_userid = "ding_zhao"

[[approvals]]
kind = "quote"
sla_hours = 24
steps = [
  { approver = "manager" },
  { approver = "manager:2", min_amount = 500000 },
]
"""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeWeComServer, FakeDingTalkServer]]:
    with FakeWeComServer(corp_id=CORP_ID, secrets=(WECOM_SECRET, CONTACT_SECRET)) as wecom, \
            FakeDingTalkServer(app_key=APP_KEY, app_secret=APP_SECRET) as dingtalk:
        yield wecom, dingtalk


class Deployment:
    """One web app and one worker on one database, with both platforms pointed at the fakes."""

    def __init__(self, config: Path, wecom: FakeWeComServer, dingtalk: FakeDingTalkServer) -> None:
        self.config, self.wecom, self.dingtalk = config, wecom, dingtalk
        settings = load_settings(config, environ={})
        engine = make_engine(settings.database.url)
        self.runtime = Runtime(SettingsHolder(settings), engine, make_session_factory(engine))
        sync_directory(self.runtime)
        self.channels = build_channels(settings, self.runtime.factory)
        wire_services(settings, self.runtime.factory)
        self.clock = Clock()
        self.client = create_app(runtime=self.runtime, clock=self.clock).test_client()
        self.wecom_sender = Sender(self.client, WeComCrypto(TOKEN, AES_KEY, CORP_ID), self.clock)
        self.seq = 0

    def close(self) -> None:
        contacts.register_directory("wecom", None)
        archive.register_source("wecom", None)
        self.runtime.close()

    def pump(self) -> None:
        """The worker's loop at the current time: handle what was stored, send what is due."""
        process_inbound(self.runtime.factory, self.runtime.settings, self.clock(), "worker")
        deliver_due(self.runtime.factory, self.channels, self.clock(), self.runtime.settings.delivery, "worker")

    def wecom_says(self, userid: str, text: str) -> None:
        self.seq += 1
        assert self.wecom_sender.text(userid, text, str(9000 + self.seq)).status_code == 200
        self.pump()

    def dingtalk_says(self, staff_id: str, text: str) -> None:
        self.seq += 1
        payload = robot_payload(text, f"dt-{self.seq}", staff_id=staff_id, conversation=f"cid-{staff_id}",
                                at=self.clock())
        assert post_robot(self.client, payload, at=self.clock()).status_code == 200
        self.pump()

    def tick(self, at: datetime) -> None:
        """`salesbot tick --at` as an operator runs it, with its own runtime and channels."""
        self.clock.now = at
        assert main(["tick", "--config", str(self.config), "--at", at.isoformat()]) == 0

    def dingtalk_cards(self, staff_id: str) -> list[str]:
        return [c.markdown["text"] for c in self.dingtalk.calls(BATCH) if c.json["userIds"] == [staff_id]]

    def wecom_texts(self, userid: str) -> list[str]:
        from tests.fakes.wecom import message_text

        return [message_text(b) for b in self.wecom.sent() if b.get("touser") == userid]

    def approval(self) -> Approval:
        with self.runtime.factory() as s:
            approval = s.scalars(select(Approval)).one()
            approval.steps  # noqa: B018  (load while the session is open)
            return approval


@pytest.fixture
def deployment(write_config, fakes) -> Iterator[Deployment]:
    wecom, dingtalk = fakes
    config = write_config(wecom_toml(wecom.api_base) + dingtalk_toml(dingtalk.url) + ORG, users=False)
    dep = Deployment(config, wecom, dingtalk)
    yield dep
    dep.close()


def _tap(dep: Deployment, staff_id: str, label: str) -> None:
    """The approver taps a one-tap link on the latest card: DingTalk sends its content as them."""
    taps = [tapped_commands(card) for card in dep.dingtalk_cards(staff_id)]
    content = [t for t in taps if label in t][-1][label]
    dep.dingtalk_says(staff_id, content)


def test_quote_from_wecom_is_approved_by_tapping_in_dingtalk_and_escalated_by_tick(deployment: Deployment):
    dep = deployment
    dep.wecom_says("zhangsan", "关联 华为技术有限公司")
    dep.wecom_says("zhangsan", "报价 华为技术有限公司 680000 年度框架")
    code = dep.approval().code

    # lisi (the direct manager) gets the card in DingTalk, with the reply commands written out
    [card] = dep.dingtalk_cards("ding_lisi")
    assert "华为技术有限公司" in card and "680,000" in card and f"同意 {code}" in card and "1/2" in card

    # the rep's own 同意 is refused and changes nothing
    dep.wecom_says("zhangsan", f"同意 {code}")
    assert dep.approval().current_position == 1 and dep.approval().status == "pending"
    assert any("无权" in t or "不能" in t for t in dep.wecom_texts("zhangsan"))

    _tap(dep, "ding_lisi", "同意")
    # the second-level step (≥ 500k) follows: wangwu, and the rep hears of the first decision
    [card2] = dep.dingtalk_cards("ding_wangwu")
    assert "2/2" in card2 and "李四" in card2
    assert any(code in t and "李四" in t for t in dep.wecom_texts("zhangsan"))

    # 25 hours later the waiting step escalates to wangwu's manager, once
    before = len(dep.dingtalk_cards("ding_zhao"))
    dep.tick(NOW + timedelta(hours=25))
    escalations = dep.dingtalk_cards("ding_zhao")[before:]
    assert len(escalations) == 1 and code in escalations[0] and "华为技术有限公司" in escalations[0]
    assert len(dep.dingtalk_cards("ding_wangwu")) == 2  # the approver was reminded
    sent_before = len(dep.dingtalk.calls(BATCH)) + len(dep.wecom.sent())
    dep.tick(NOW + timedelta(hours=25))
    assert len(dep.dingtalk.calls(BATCH)) + len(dep.wecom.sent()) == sent_before  # a repeated tick adds nothing

    # wangwu rejects with a reason; the rep hears it in WeCom
    dep.clock.now = NOW + timedelta(hours=26)
    dep.dingtalk_says("ding_wangwu", f"驳回 {code} 价格低于底线，请重新核算")
    assert dep.approval().status == "rejected"
    assert any(code in t and "价格低于底线" in t and "已驳回" in t for t in dep.wecom_texts("zhangsan"))


def test_overdue_todo_and_silent_customer(deployment: Deployment):
    dep = deployment
    dep.wecom_says("zhangsan", "关联 华为技术有限公司")
    dep.wecom_says("zhangsan", "客户问账期能不能放到六十天")  # a note; payment_terms → to-do due in 24 h
    assert any("账期咨询" in t for t in dep.wecom_texts("zhangsan"))

    reminded = len(dep.wecom_texts("zhangsan"))
    dep.tick(NOW + timedelta(hours=25))
    assert len(dep.wecom_texts("zhangsan")) == reminded + 1  # the owner is reminded
    assert dep.dingtalk_cards("ding_lisi") == []
    dep.tick(NOW + timedelta(hours=49))
    assert len(dep.dingtalk_cards("ding_lisi")) == 1  # then the manager hears of it
    dep.tick(NOW + timedelta(hours=49))
    assert len(dep.dingtalk_cards("ding_lisi")) == 1

    dep.tick(NOW + timedelta(days=46))
    with dep.runtime.factory() as s:
        customer = s.scalars(select(Customer)).one()
        assert (customer.status, customer.owner_id) == ("public", None)
    assert any("公海" in t for t in dep.dingtalk_cards("ding_lisi"))
