"""The first-contact ladder: 24 h → the rep reminded and the manager told, once; 48 h → the pool, the
team told; the archive showing the rep writing to the customer counts as contact. Then the pool."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.model import InboundMessage
from scheduler.inbound import process_inbound
from storage import audit, customers
from storage import leads as repo
from storage.db import transaction
from storage.models import Customer, Lead, LeadLoad, PoolClaim
from storage.queues import store_inbound
from tests.approvals.conftest import Chat, make_chat
from tests.conftest import NOW
from tests.leads.conftest import LEADS_TOML, all_leads, lead_of


def register(chat: Chat, text: str = "线索 星辰教育 13800000001 K12") -> int:
    chat.say("lisi", text)
    return max(lead.id for lead in all_leads(chat))


def test_reminder_at_24h_once_then_pool_at_48h_and_a_claim(leads_chat: Chat) -> None:
    lead_id = register(leads_chat)
    assert lead_of(leads_chat, lead_id).owner_id == "xiaohong"  # no region: 小红 wins the tie on id
    assert leads_chat.tick(NOW + timedelta(hours=23)) == []
    lines = leads_chat.tick(NOW + timedelta(hours=25))
    assert lines == [f"lead_first_contact: L{lead_id}: xiaohong reminded, manager told"]
    assert leads_chat.tick(NOW + timedelta(hours=26)) == []  # once per level
    reminders = [t for t in leads_chat.texts_for("xiaohong") if "24 小时未联系" in t]
    boss = [t for t in leads_chat.texts_for("lisi") if "线索超时未联系" in t]
    assert len(reminders) == 1 and len(boss) == 1
    lines = leads_chat.tick(NOW + timedelta(hours=49))
    assert lines == [f"lead_first_contact: L{lead_id}: back to the public pool (was xiaohong)"]
    assert leads_chat.tick(NOW + timedelta(hours=50)) == []
    lead = lead_of(leads_chat, lead_id)
    assert (lead.status, lead.owner_id) == ("pool", None)
    for teammate in ("xiaohong", "zhangsan", "xiaoming", "lisi"):
        assert any(f"线索收回公海：L{lead_id}" in t for t in leads_chat.texts_for(teammate)), teammate
    with leads_chat.factory() as s:
        customer = s.get(Customer, lead.customer_id)
        assert (customer.status, customer.owner_id) == ("public", None)
    leads_chat.now = NOW + timedelta(hours=50)
    listing = leads_chat.say("zhangsan", "公海")[-1].text()
    assert f"L{lead_id} 星辰教育" in listing and f"C{lead.customer_id}" not in listing
    assert "理由" in leads_chat.say("zhangsan", f"申领 L{lead_id}")[-1].text()
    reply = leads_chat.say("zhangsan", f"申领 L{lead_id} 熟悉K12客户")[-1].text()
    assert "已申领线索" in reply
    lead = lead_of(leads_chat, lead_id)
    assert (lead.status, lead.owner_id, lead.sla_level) == ("assigned", "zhangsan", 0)
    with leads_chat.factory() as s:
        [claim] = s.scalars(select(PoolClaim)).all()
        assert (claim.user_id, claim.reason) == ("zhangsan", "熟悉K12客户")
        assert s.get(Customer, lead.customer_id).owner_id == "zhangsan"
        assert any(e.after == "zhangsan" for e in audit.history(s, "lead", lead_id))
    # the claimed lead has its own ladder: a reminder 24 h after the claim
    lines = leads_chat.tick(NOW + timedelta(hours=75))
    assert lines == [f"lead_first_contact: L{lead_id}: zhangsan reminded, manager told"]


def test_the_archive_showing_the_rep_writing_counts_as_contact(leads_chat: Chat) -> None:
    lead_id = register(leads_chat)
    lead = lead_of(leads_chat, lead_id)
    wrote_at = NOW + timedelta(hours=3)
    msg = InboundMessage(platform="console", sender="xiaohong", conversation="room-1", text="王老师您好",
                         msg_id="arch-1", time=wrote_at, source="archive")
    with transaction(leads_chat.factory) as s:
        customers.link_conversation(s, "console", "room-1", s.get(Customer, lead.customer_id), "single", None,
                                    NOW, "test")
        store_inbound(s, "console", msg.dedupe_key, "message", msg.to_dict(), wrote_at)
    process_inbound(leads_chat.factory, leads_chat.runtime.settings, wrote_at, "w1")
    assert leads_chat.tick(NOW + timedelta(hours=25)) == [
        f"lead_first_contact: L{lead_id}: contacted (the rep's message at {wrote_at.isoformat()})"]
    lead = lead_of(leads_chat, lead_id)
    assert (lead.status, lead.contacted_at) == ("contacted", wrote_at)
    assert not [t for t in leads_chat.texts_for("xiaohong") if "小时未联系：" in t]


def test_a_customers_own_words_are_not_the_reps_contact(leads_chat: Chat) -> None:
    lead_id = register(leads_chat)
    lead = lead_of(leads_chat, lead_id)
    msg = InboundMessage(platform="console", sender="wm-customer", conversation="room-2", text="在吗",
                         msg_id="arch-2", time=NOW + timedelta(hours=1), source="archive", from_customer=True)
    with transaction(leads_chat.factory) as s:
        customers.link_conversation(s, "console", "room-2", s.get(Customer, lead.customer_id), "single", None,
                                    NOW, "test")
        store_inbound(s, "console", msg.dedupe_key, "message", msg.to_dict(), NOW)
    process_inbound(leads_chat.factory, leads_chat.runtime.settings, NOW + timedelta(hours=1), "w1")
    assert "reminded" in leads_chat.tick(NOW + timedelta(hours=25))[0]


def test_contacted_in_time_means_no_reminder(leads_chat: Chat) -> None:
    lead_id = register(leads_chat)
    leads_chat.say("xiaohong", f"已联系 L{lead_id}")
    assert leads_chat.tick(NOW + timedelta(hours=49)) == []
    assert lead_of(leads_chat, lead_id).status == "contacted"


def test_claim_caps_and_released_customers_in_the_pool(leads_chat: Chat) -> None:
    released = leads_chat.add_customer("沉默客户有限公司", owner="xiaoming", last_activity=NOW - timedelta(days=46))
    leads_chat.tick(NOW)
    assert leads_chat.customer(released).status == "public"
    listing = leads_chat.say("zhangsan", "公海")[-1].text()
    assert f"C{released} 沉默客户有限公司" in listing
    assert "已申领客户" in leads_chat.say("zhangsan", f"申领 C{released} 之前接触过")[-1].text()
    assert leads_chat.customer(released).owner_id == "zhangsan"
    leads_chat.say("lisi", "线索 甲骨 13800000011 物流")
    leads_chat.say("lisi", "线索 乙烯 13800000012 物流")
    with transaction(leads_chat.factory) as s:
        for lead in s.scalars(select(Lead)):
            repo.move(s, lead, "pool", NOW, "test")
    assert "已申领线索" in leads_chat.say("zhangsan", "申领 L1 熟悉")[-1].text()
    refused = leads_chat.say("zhangsan", "申领 L2 熟悉")[-1].text()
    assert "每日上限 2" in refused and lead_of(leads_chat, 2).status == "pool"
    assert "不在公海" in leads_chat.say("xiaoming", "申领 L1 我要")[-1].text()


def test_an_untouched_lead_turns_stale_and_counts_against_the_rep(write_config: Callable[..., Path], engine: Engine,
                                                                   factory: sessionmaker[Session]) -> None:
    chat = make_chat(write_config, engine, factory, LEADS_TOML.replace("capacity = 10", "capacity = 10\nstale_hours = 30"))
    lead_id = register(chat)
    assert chat.tick(NOW + timedelta(hours=31)) == [f"lead_first_contact: L{lead_id}: stale",
                                                    f"lead_first_contact: L{lead_id}: xiaohong reminded, manager told"]
    with chat.factory() as s:
        load = s.get(LeadLoad, "xiaohong")
        assert (load.open_leads, load.stale_leads) == (0, 1)
    chat.say("xiaohong", f"已联系 L{lead_id}")  # contact clears it
    with chat.factory() as s:
        load = s.get(LeadLoad, "xiaohong")
        assert (load.open_leads, load.stale_leads) == (1, 0)
