"""Archived messages handled many to a transaction end exactly as the same messages handled one by one:
the same risk events (raised, joined, waiting for the digest), to-dos (new, repeated), timeline and
cards — on a database that already holds open events and to-dos, some inside the cooldown, some not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text

from bot.runtime import sync_directory
from handlers.model import InboundMessage
from scheduler import inbound
from scheduler.inbound import handle_all
from storage import customers as repo
from storage import risks, todos
from storage.db import transaction
from storage.models import Base, InboundItem, Message, OutboxItem, RiskEvent, Todo
from storage.queues import store_inbound
from tests.conftest import NOW

MORE_RULES = """
[[rules]]
name = "scope_change"
label = "需求变更"
kind = "change"
keywords = ["新增需求", "追加功能"]

[[rules]]
name = "delay"
label = "进度拖延"
kind = "risk"
severity = "low"
notify_mode = "daily"
keywords = ["延期"]
"""

# (sender, conversation, words); wmA, wmB and wmC are customers, wmX a chat nobody linked
WORDS = [
    ("wmA", "wmA", "友商比你们便宜"),  # competitor joins the open event; price_cut is new
    ("wmB", "wmB", "账期能不能改成月结"),  # joins B's open payment_terms to-do
    ("zhangsan", "wmA", "友商那边我来跟进"),  # the rep's own words: on the timeline, not scanned
    ("wmA", "wmA", "友商又来找我们了"),  # joins again
    ("wmC", "wmC", "我们在考虑换供应商"),  # C has no owner: a fallback card
    ("wmX", "wmX", "友商便宜多了"),  # nobody linked this chat: no customer, no card
    ("wmB", "wmB", "样品什么时候寄"),  # a new sample to-do
    ("wmB", "wmB", "样品还没收到"),  # the same request again: added to it
    ("wmC", "wmC", "要追加功能，交付可能延期"),  # a change to-do and a daily-digest risk
    ("wmA", "wmA", "还是太贵了，想换一家"),  # price_cut joins the one raised above; churn is new
    ("wmB", "wmB", ""),  # nothing to scan
]


def _reset(runtime) -> None:
    """An empty database again, ids from 1 (both runs must hand out the same codes)."""
    with runtime.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
    sync_directory(runtime)


def _given(runtime) -> None:
    """Three customers; A has an open competitor event, and an older one past the cooldown; B an open to-do."""
    before = NOW - timedelta(hours=30)
    with transaction(runtime.factory) as s:
        ids = {}
        for key, owner in (("A", "zhangsan"), ("B", "zhangsan"), ("C", None)):
            customer = repo.create(s, f"客户{key}有限公司", owner, before, "test")
            repo.add_identity(s, customer, "wecom", f"wm{key}")
            ids[key] = customer.id
        old = risks.add_event(s, customer_id=ids["A"], rule="price_cut", label="降价压力", severity="medium",
                              keyword="便宜", text="便宜点", message_id=None, at=before)
        assert old.id  # open, but last hit 30 hours ago: outside the 24-hour cooldown
        risks.add_event(s, customer_id=ids["A"], rule="competitor", label="竞品威胁", severity="high", keyword="友商",
                        text="友商报价了", message_id=None, at=NOW - timedelta(hours=2))
        todos.add(s, title="账期咨询", at=NOW - timedelta(hours=3), actor="rule:payment_terms", owner_id="zhangsan",
                  customer_id=ids["B"], detail="账期多久", due_at=NOW + timedelta(hours=20),
                  source_rule="payment_terms")
    with transaction(runtime.factory) as s:
        for i, (sender, conversation, words) in enumerate(WORDS):
            msg = InboundMessage(platform="wecom", sender=sender, conversation=conversation, text=words,
                                 msg_id=f"m{i}", time=NOW + timedelta(seconds=i),
                                 from_customer=sender.startswith("wm"), source="archive")
            store_inbound(s, "wecom", msg.dedupe_key, "message", msg.to_dict(), NOW)


def _outcome(runtime) -> dict:
    with runtime.factory() as s:
        return {
            "events": [(e.id, e.customer_id, e.rule, e.keyword, e.text, e.status, e.hits, e.created_at, e.last_hit_at,
                        e.digest_pending, e.message_id) for e in s.scalars(select(RiskEvent).order_by(RiskEvent.id))],
            "todos": [(t.id, t.customer_id, t.owner_id, t.role, t.title, t.detail, t.source_rule, t.source_message_id,
                       t.status, t.due_at) for t in s.scalars(select(Todo).order_by(Todo.id))],
            "timeline": [(m.id, m.platform_msg_id, m.customer_id, m.sender_user_id, m.source, m.text)
                         for m in s.scalars(select(Message).order_by(Message.id))],
            "cards": [(o.channel, o.target, o.recipient_id, o.dedupe_key, o.priority, o.card)
                      for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))],
            "pending": s.scalars(select(InboundItem.id).where(InboundItem.status != "done")).all(),
        }


def _run(runtime, monkeypatch, batched: bool) -> dict:
    _reset(runtime)
    _given(runtime)
    with monkeypatch.context() as m:
        if not batched:
            m.setattr(inbound, "_batchable", lambda kind, payload: False)
        batches: list[int] = []
        real = inbound._handle_batch
        m.setattr(inbound, "_handle_batch", lambda *a: batches.append(len(a[4])) or real(*a))
        clock = iter(NOW + timedelta(minutes=n) for n in range(100))
        assert handle_all(runtime.factory, runtime.settings, lambda: next(clock), "w1") == len(WORDS)
    assert batches == ([len(WORDS)] if batched else [])  # one transaction for all, or none batched
    return _outcome(runtime)


@pytest.fixture
def settings(write_config):
    from bot.config import load_settings

    return load_settings(write_config(MORE_RULES), environ={})


def test_a_batch_ends_as_the_same_messages_handled_one_by_one(runtime, monkeypatch):
    one_by_one = _run(runtime, monkeypatch, batched=False)
    batched = _run(runtime, monkeypatch, batched=True)
    assert batched == one_by_one
    # and the scenario means something: joins, new events, a digest risk, a repeated to-do, cards
    events = {(e[1], e[2]): e for e in batched["events"] if e[5] == "open"}
    competitor = [e for e in batched["events"] if e[2] == "competitor"]
    assert [e[6] for e in competitor] == [3]  # the open one joined twice, no second event
    assert [e[6] for e in batched["events"] if e[2] == "price_cut"] == [1, 2]  # the old one left alone
    assert any(e[9] for e in events.values())  # the delay risk waits for the digest
    payment = [t for t in batched["todos"] if t[6] == "payment_terms"]
    assert len(payment) == 1 and "月结" in payment[0][5]
    sample = [t for t in batched["todos"] if t[6] == "sample"]
    assert len(sample) == 1 and "还没收到" in sample[0][5]
    assert [t[6] for t in batched["todos"] if t[6] == "scope_change"] == ["scope_change"]
    titles = [c[5]["title"] for c in batched["cards"]]
    assert "客户风险提示：流失风险" in titles and any(t.startswith("新待办") for t in titles)
    assert len(batched["timeline"]) == len(WORDS) and batched["pending"] == []


def test_handling_a_batch_twice_doubles_nothing(runtime, monkeypatch):
    first = _run(runtime, monkeypatch, batched=True)
    # the same archived messages pulled again: stored once, handled once
    with transaction(runtime.factory) as s:
        for i, (sender, conversation, words) in enumerate(WORDS):
            msg = InboundMessage(platform="wecom", sender=sender, conversation=conversation, text=words,
                                 msg_id=f"m{i}", time=NOW + timedelta(seconds=i),
                                 from_customer=sender.startswith("wm"), source="archive")
            assert not store_inbound(s, "wecom", msg.dedupe_key, "message", msg.to_dict(), NOW)
    # an item handed out again (its lease ran out after the batch was done elsewhere) adds nothing
    with transaction(runtime.factory) as s:
        s.execute(InboundItem.__table__.update().values(status="pending", claimed_by=None))
    later = iter(NOW + timedelta(hours=1, minutes=n) for n in range(100))
    assert handle_all(runtime.factory, runtime.settings, lambda: next(later), "w2") == len(WORDS)
    again = _outcome(runtime)
    assert again == first
