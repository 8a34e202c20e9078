"""Fixtures for the keyword flow: rules with advice and recipients, and a harness that drives messages
through the real pipeline (store → inbound job → outbox → a recording channel) with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings, load_settings
from bot.runtime import Runtime
from handlers.model import Address, Card, InboundMessage
from scheduler.delivery import deliver_due
from scheduler.inbound import process_inbound
from storage.models import InboundItem
from tests.conftest import NOW

FLOW_RULES = """
[scan]
negations = ["不", "没", "没有", "不会", "不用", "无需", "未", "并未", "从未", "不再", "不打算", "不考虑", "暂不", "不需要"]
cooldown_hours = 24

[[rules]]
name = "competitor"
label = "竞品威胁"
kind = "risk"
severity = "high"
keywords = ["竞品", "竞争对手", "对手", "友商", "别家", "其他厂家"]
advice = "先确认客户对比的是哪家，再讲我们的差异化优势。"

[[rules]]
name = "price_cut"
label = "降价压力"
kind = "risk"
severity = "medium"
keywords = ["降价", "便宜", "太贵", "打折", "折扣", "优惠", "砍价"]
advice = "先问清预算和比较对象，用付款方式或批量条件换价格。"

[[rules]]
name = "churn"
label = "流失风险"
kind = "risk"
severity = "high"
keywords = ["换供应商", "换个供应商", "换一家", "终止合作", "停止合作", "解约"]
notify = ["owner", "manager", "director"]
advice = "24 小时内约客户决策人面谈。"

[[rules]]
name = "payment_terms"
label = "账期咨询"
kind = "todo"
due_hours = 24
keywords = ["账期", "月结", "付款方式", "分期"]
notify = ["owner", "role:finance"]
advice = "与财务确认可给的账期后回复客户。"

[[rules]]
name = "sample"
label = "样品需求"
kind = "todo"
due_hours = 48
keywords = ["样品", "样机", "试用装"]
advice = "确认型号、数量和地址，安排寄送。"
"""


@pytest.fixture
def settings(write_config: Callable[..., Path]) -> Settings:
    """Overrides the shared fixture: the flow rules above (with advice and recipients)."""
    return load_settings(write_config(FLOW_RULES, rules=False), environ={})


@dataclass
class Recorder:
    """A console channel that keeps what it was asked to send."""

    name: str = "console"
    per_minute: int = 10_000
    sent: list[tuple[Address, Card]] = field(default_factory=list)

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        self.sent.append((address, card))
        return None


@dataclass
class Delivered:
    """The cards one step delivered, by recipient (directory id for members, platform id for replies)."""

    items: list[tuple[Address, Card]]

    def to(self, user: str) -> list[Card]:
        return [card for address, card in self.items if address.user == user]

    def titled(self, prefix: str) -> list[tuple[str, Card]]:
        return [(address.user, card) for address, card in self.items if card.title.startswith(prefix)]

    @property
    def recipients(self) -> set[str]:
        return {address.user for address, _ in self.items}


class Flow:
    """Sends messages the way the web edge stores them, runs the inbound job and delivers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.now = NOW
        self.app = create_app(runtime=runtime, clock=lambda: self.now)
        self.state = self.app.extensions["salesbot"]
        self.channel = Recorder()
        self._n = 0

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def send(self, text: str, sender: str = "zhangsan", *, platform: str = "console", conversation: str | None = None,
             from_customer: bool = False, group: bool = False, source: str = "app") -> Delivered:
        self._n += 1
        msg = InboundMessage(platform=platform, sender=sender, conversation=conversation or sender, text=text,
                             msg_id=f"flow-{self._n}", time=self.now, from_customer=from_customer,
                             conversation_type="group" if group else "single", source=source)
        assert self.state.accept(msg)
        return self.run()

    def customer_says(self, text: str, conversation: str = "g-huawei", sender: str = "cust-wang",
                      **kw: object) -> Delivered:
        return self.send(text, sender, conversation=conversation, from_customer=True, group=True, **kw)  # type: ignore[arg-type]

    def run(self) -> Delivered:
        factory = self.runtime.factory
        process_inbound(factory, self.runtime.settings, self.now, "w1")
        with factory() as s:
            failed = s.scalars(select(InboundItem).where(InboundItem.error.is_not(None))).all()
            assert not failed, [f.error for f in failed]
        before = len(self.channel.sent)
        deliver_due(factory, {"console": self.channel}, self.now, self.runtime.settings.delivery, "w1")
        return Delivered(self.channel.sent[before:])


@pytest.fixture
def flow(runtime: Runtime) -> Iterator[Flow]:
    """A harness with 华为 owned by zhangsan, its group chat g-huawei linked."""
    f = Flow(runtime)
    f.send("关联 华为", conversation="g-huawei", group=True)
    yield f
