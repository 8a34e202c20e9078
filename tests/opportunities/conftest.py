"""The chat harness of the approval tests, with people for the deal's other roles and a customer
whose WeCom conversation the archive imports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from handlers import archive
from handlers.event_model import ArchivedMessage
from scheduler.inbound import process_inbound
from storage import customers
from storage.db import transaction
from storage.models import Customer
from tests.approvals.conftest import Chat, make_chat

ROLES_TOML = """
[[users]]
id = "zhougong"
name = "周工"
role = "solution"
manager = "wangwu"

[[users]]
id = "wugong"
name = "吴工"
role = "delivery"
manager = "wangwu"
"""
CUSTOMER = "华为技术有限公司"
EXTERNAL = "wmHUAWEI01"


class DealChat(Chat):
    """A Chat that also imports archived WeCom messages between zhangsan and the customer."""

    archived = 0

    def archive(self, text: str, *, from_customer: bool = False, kind: str = "text", file_name: str = "",
                file_size: int | None = None, file_md5: str = "", at: datetime | None = None) -> None:
        self.archived += 1
        sender, to = (EXTERNAL, "zhangsan") if from_customer else ("zhangsan", EXTERNAL)
        msg = ArchivedMessage(platform="wecom", msgid=f"arch{self.archived}", sender=sender, recipients=(to,),
                              room="", time=at or self.now, kind=kind, text=text, outsiders=(EXTERNAL,),
                              file_name=file_name, file_size=file_size, file_md5=file_md5)
        with transaction(self.factory) as s:
            archive.ingest(s, "wecom", [msg], self.now)
        assert process_inbound(self.factory, self.runtime.settings, self.now, "w1") == 1
        self.deliver()

    def add_deal_customer(self) -> int:
        customer_id = self.add_customer(CUSTOMER)
        with transaction(self.factory) as s:
            found = s.get(Customer, customer_id)
            assert found is not None
            customers.add_identity(s, found, "wecom", EXTERNAL, "华为 王总")
        return customer_id


def make_deal_chat(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session],
                   extra: str = "") -> DealChat:
    chat = make_chat(write_config, engine, factory, ROLES_TOML + extra)
    return DealChat(chat.runtime)


@pytest.fixture
def deal(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> DealChat:
    chat = make_deal_chat(write_config, engine, factory)
    chat.add_deal_customer()
    return chat
