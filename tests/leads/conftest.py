"""A chat harness for lead tests: the approvals harness (real inbound job, pipeline, tick, delivery)
with a [leads] section and three more reps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from storage.models import Lead
from tests.approvals.conftest import Chat, make_chat

LEADS_TOML = """
[leads]
roles = ["rep"]
daily_cap = 5
industry_daily_max = 2
capacity = 10
first_contact_hours = 24
reclaim_hours = 48
claim_daily_max = 2
claim_holding_max = 3

[leads.weights]
industry = 0.4
win_rate = 0.3
load = 0.3
stale = 0.3

[[leads.sources]]
name = "marketing"
token = "marketing-token-0123456789"

[[leads.sources]]
name = "expo"
token = "expo-token-0123456789abcd"

[[leads.reps]]
id = "zhangsan"
industries = ["K12"]
region = "华东"

[[leads.reps]]
id = "xiaoming"
industries = ["制造"]
region = "华东"

[[leads.reps]]
id = "xiaohong"
industries = ["K12", "制造"]
region = "华南"

[[leads.reps]]
id = "laoli"
industries = ["K12"]
on_leave = true

[[users]]
id = "xiaoming"
name = "小明"
role = "rep"
manager = "lisi"

[[users]]
id = "xiaohong"
name = "小红"
role = "rep"
manager = "lisi"

[[users]]
id = "laoli"
name = "老李"
role = "rep"
manager = "lisi"
"""


@pytest.fixture
def leads_chat(write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> Chat:
    return make_chat(write_config, engine, factory, LEADS_TOML)


def lead_of(chat: Chat, lead_id: int) -> Lead:
    with chat.factory() as s:
        found = s.get(Lead, lead_id)
        assert found is not None
        return found


def all_leads(chat: Chat) -> list[Lead]:
    with chat.factory() as s:
        return list(s.scalars(select(Lead).order_by(Lead.id)))


@pytest.fixture
def api(leads_chat: Chat) -> FlaskClient:
    """The web app on the leads harness's runtime, at the harness's clock."""
    return create_app(runtime=leads_chat.runtime, clock=lambda: leads_chat.now).test_client()
