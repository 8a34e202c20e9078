"""A chat harness for approval and escalation tests: messages go through the real inbound job and
pipeline, scheduled checks through run_tick, and cards are delivered to a recording channel."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings, load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers.model import Address, Card, InboundMessage
from scheduler.delivery import deliver_due
from scheduler.inbound import process_inbound
from scheduler.jobs import run_tick
from storage import customers, directory
from storage.db import transaction
from storage.models import Customer, OutboxItem
from storage.queues import store_inbound
from tests.conftest import NOW

CHAIN_TOML = """
[delivery]
per_minute = 1000

# the weekly report (Friday 17:00 by default) would add cards to these tests' outbox counts
[report]
weekday = 7
hour = 23

[sla]
todo_escalate_hours = 24
unclaimed_hours = 72
silent_remind_days = 30
silent_release_days = 45

[[approvals]]
kind = "quote"
sla_hours = 24
steps = [
  { approver = "manager" },
  { approver = "manager:2", min_amount = 500000 },
  { approver = "role:finance", min_amount = 200000, sla_hours = 24 },
  { approver = "user:zhaoliu" },
]

[[approvals]]
kind = "contract"
sla_hours = 48
steps = [
  { approver = "manager", min_amount = 100000 },
]
"""

# A rep below zhangsan, so an approval waiting on zhangsan has two managers above it (lisi, wangwu).
XIAOMING_TOML = """
[[users]]
id = "xiaoming"
name = "小明"
role = "rep"
manager = "zhangsan"
"""


class RecordingChannel:
    """A Channel that keeps every (address, card) it is asked to send."""

    name = "console"
    per_minute = 10_000

    def __init__(self) -> None:
        self.sent: list[tuple[Address, Card]] = []

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        self.sent.append((address, card))
        return None


@dataclass
class Chat:
    """Drives salesbot the way a deployment does: store → inbound job → delivery; tick → delivery."""

    runtime: Runtime
    channel: RecordingChannel = field(default_factory=RecordingChannel)
    now: datetime = NOW
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.runtime.factory

    def say(self, sender: str, text: str, platform: str = "console") -> list[Card]:
        """`sender` types `text` to the bot; returns the cards that came back to them."""
        msg = InboundMessage(platform=platform, sender=sender, conversation=sender, text=text,
                             msg_id=f"m{next(self._ids)}", time=self.now)
        with transaction(self.factory) as session:
            store_inbound(session, platform, msg.dedupe_key, "message", msg.to_dict(), self.now)
        before = len(self.channel.sent)
        assert process_inbound(self.factory, self.runtime.settings, self.now, "w1") == 1
        self.deliver()
        return [card for address, card in self.channel.sent[before:] if address.user == sender]

    def tick(self, at: datetime) -> list[str]:
        lines = run_tick(self.factory, self.runtime.settings, at)
        self.deliver(at)
        return lines

    def deliver(self, at: datetime | None = None) -> None:
        while deliver_due(self.factory, {"console": self.channel}, at or self.now,
                          self.runtime.settings.delivery, "w1").sent:
            pass

    def cards_for(self, user_id: str) -> list[Card]:
        """Every card delivered to a directory user, whichever platform id it was addressed to."""
        with self.factory() as s:
            ids = {user_id, *directory.platform_ids(s, user_id).values()}
        return [card for address, card in self.channel.sent if address.user in ids]

    def texts_for(self, user_id: str) -> list[str]:
        return [card.text() for card in self.cards_for(user_id)]

    def outbox_count(self) -> int:
        with self.factory() as s:
            return int(s.scalar(select(func.count(OutboxItem.id))) or 0)

    def add_customer(self, name: str, owner: str | None = "zhangsan", last_activity: datetime | None = None) -> int:
        with transaction(self.factory) as s:
            customer = customers.create(s, name, owner, NOW - timedelta(days=60), "test")
            customer.last_activity_at = last_activity or NOW
            return customer.id

    def customer(self, customer_id: int) -> Customer:
        with self.factory() as s:
            found = s.get(Customer, customer_id)
            assert found is not None
            return found


def make_chat(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session],
              extra: str = "") -> Chat:
    settings: Settings = load_settings(write_config(CHAIN_TOML + extra), environ={})
    runtime = Runtime(SettingsHolder(settings), engine, factory)
    sync_directory(runtime)
    return Chat(runtime)


@pytest.fixture
def chat(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> Chat:
    return make_chat(write_config, engine, factory)


@pytest.fixture
def chat_with_team_lead(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> Chat:
    return make_chat(write_config, engine, factory, XIAOMING_TOML)
