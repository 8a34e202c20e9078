"""Duplicate check first, then scored, capped, fused assignment with the reasons stored and shown."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from handlers.context import Context
from handlers.leads import LeadInput, take_lead
from storage import audit
from storage.db import transaction
from storage.models import Customer, LeadLoad, User
from tests.approvals.conftest import Chat
from tests.conftest import NOW
from tests.leads.conftest import all_leads, lead_of

NAMES = ["甲骨", "乙烯", "丙辰", "丁香", "戊戌", "己亥", "庚子", "辛丑", "壬寅", "癸卯", "子鼠", "丑牛"]


def post(chat: Chat, company: str, phone: str = "", industry: str = "", region: str = "", key: str | None = None,
         source: str = "marketing") -> tuple[int, str, str | None]:
    with transaction(chat.factory) as s:
        intake = take_lead(Context(s, chat.runtime.settings, chat.now),
                           LeadInput(source=source, company=company, phone=phone, industry=industry, region=region,
                                     client_key=key), "test")
        from handlers import outbox
        outbox.post(Context(s, chat.runtime.settings, chat.now), intake.cards)
        result = intake.lead.id, intake.lead.status, intake.lead.owner_id
    chat.deliver()
    return result


def test_industry_match_picks_the_rep_and_the_reason_is_shown(leads_chat: Chat) -> None:
    lead_id, status, owner = post(leads_chat, "星辰教育科技有限公司", "13800000001", "K12", "华东")
    assert (status, owner) == ("assigned", "zhangsan")
    card = leads_chat.texts_for("zhangsan")[-1]
    assert f"新线索 L{lead_id}" in card and "「已联系 L" in card and "13800000001" in card
    shown = leads_chat.say("lisi", f"线索 L{lead_id}")[-1].text()
    assert "分给 张三" in shown and "行业匹配" in shown
    assert "小红" not in shown.split("未参与")[0] or "区域不符" in shown  # 华南 rep is out for a 华东 lead
    assert "老李 休假" in shown


def test_manufacturing_lead_goes_to_the_manufacturing_rep(leads_chat: Chat) -> None:
    _, status, owner = post(leads_chat, "远航机床股份有限公司", "13800000002", "制造", "华东")
    assert (status, owner) == ("assigned", "xiaoming")


def test_lead_matching_a_customer_goes_to_its_owner_not_a_second_rep(leads_chat: Chat) -> None:
    leads_chat.add_customer("远航机床有限公司", owner="zhangsan")
    _, status, owner = post(leads_chat, "远航机床有限公司", "13800000003", "制造", "华东")
    assert (status, owner) == ("followup", "zhangsan")
    assert any("老客户有新线索" in t for t in leads_chat.texts_for("zhangsan"))
    assert not leads_chat.texts_for("xiaoming")


def test_normalised_company_or_same_phone_is_the_same_customer(leads_chat: Chat) -> None:
    first, _, owner = post(leads_chat, "星辰教育（上海）有限公司", "138-0000-0004", "K12", "华东")
    assert owner == "zhangsan"
    _, status, again = post(leads_chat, "ＳＴＡＲ星辰教育 股份有限公司".replace("ＳＴＡＲ", ""), "13900000000", "制造")
    assert (status, again) == ("followup", "zhangsan")
    _, status, by_phone = post(leads_chat, "完全不同的公司", "+86 13800000004", "制造")
    assert (status, by_phone) == ("followup", "zhangsan")
    with leads_chat.factory() as s:
        assert s.scalar(select(Customer.id).where(Customer.name == "完全不同的公司")) is None


def test_near_match_waits_for_a_manager(leads_chat: Chat) -> None:
    post(leads_chat, "星辰教育有限公司", "13800000005", "K12", "华东")
    lead_id, status, owner = post(leads_chat, "星辰教育集团华东分部", "13800000006", "K12", "华东")
    assert (status, owner) == ("review", None)
    assert any(f"疑似重复线索 L{lead_id}" in t for t in leads_chat.texts_for("lisi"))
    refused = leads_chat.say("zhangsan", f"分配 L{lead_id}")[-1].text()
    assert "只有主管" in refused and lead_of(leads_chat, lead_id).status == "review"
    leads_chat.say("lisi", f"分配 L{lead_id}")
    assert lead_of(leads_chat, lead_id).status == "assigned"


def test_same_industry_fuse_overflows_to_the_pool(leads_chat: Chat) -> None:
    for i, name in enumerate(("春芽教育", "秋实学堂")):
        assert post(leads_chat, name, f"1380000010{i}", "K12", "华东")[2] == "zhangsan"
    lead_id, status, owner = post(leads_chat, "冬青书院", "13800000109", "K12", "华东")
    assert (status, owner) == ("pool", None)
    assert "行业熔断" in lead_of(leads_chat, lead_id).reason["why"]
    # another industry still reaches the same rep: the fuse is per industry
    assert post(leads_chat, "某某物流", "13800000110", "物流", "华东")[1] == "assigned"


def test_daily_cap_moves_on_to_the_next_rep(leads_chat: Chat) -> None:
    owners = [post(leads_chat, NAMES[i], f"1390000{i:04d}", "", "华东")[2] for i in range(12)]
    assert owners.count("zhangsan") == 5 and owners.count("xiaoming") == 5  # daily_cap = 5 each
    assert owners[10:] == [None, None]  # the 华南 rep is not eligible for 华东 leads: the pool


def test_inactive_and_on_leave_reps_get_nothing(leads_chat: Chat) -> None:
    with transaction(leads_chat.factory) as s:
        s.get(User, "zhangsan").active = False
    owners = {post(leads_chat, NAMES[i], f"1370000{i:04d}", "K12")[2] for i in range(4)}
    assert "zhangsan" not in owners and "laoli" not in owners


def test_stale_leads_count_against_a_rep(leads_chat: Chat) -> None:
    with transaction(leads_chat.factory) as s:
        s.add(LeadLoad(user_id="zhangsan", open_leads=0, stale_leads=4))
    _, _, owner = post(leads_chat, "双语教育", "13600000001", "", "华东")
    assert owner == "xiaoming"  # zhangsan would win the tie on id; four zombie leads cost him the lead


def test_same_state_same_answer(leads_chat: Chat) -> None:
    owners = [post(leads_chat, NAMES[i], f"1350000{i:04d}", "", "华东")[2] for i in range(4)]
    assert owners == ["xiaoming", "zhangsan", "xiaoming", "zhangsan"]  # ties go to the smaller id, then load


def test_reassign_is_manager_only_and_audited(leads_chat: Chat) -> None:
    lead_id, _, owner = post(leads_chat, "星辰教育", "13800000201", "K12", "华东")
    refused = leads_chat.say("xiaoming", f"改派 L{lead_id} 小明")[-1].text()
    assert "只有" in refused and lead_of(leads_chat, lead_id).owner_id == "zhangsan"
    leads_chat.say("lisi", f"改派 L{lead_id} 小明")
    lead = lead_of(leads_chat, lead_id)
    assert lead.owner_id == "xiaoming" and "手动改派" in lead.reason["why"]
    assert any(f"新线索 L{lead_id}" in t for t in leads_chat.texts_for("xiaoming"))
    with leads_chat.factory() as s:
        trail = [(e.field, e.before, e.after, e.actor) for e in audit.history(s, "lead", lead_id)]
        loads = {r.user_id: r.open_leads for r in s.scalars(select(LeadLoad))}
        assert s.get(Customer, lead.customer_id).owner_id == "xiaoming"
    assert ("owner_id", "zhangsan", "xiaoming", "lisi") in trail
    assert loads == {"zhangsan": 0, "xiaoming": 1}


def test_chat_command_registers_and_names_the_code(leads_chat: Chat) -> None:
    reply = leads_chat.say("lisi", "线索 启航教育 13800000301 K12 50万")[-1].text()
    # no region on the lead: the 华南 rep competes too, and wins the tie with 张三 on id
    assert "已登记线索 L1" in reply and "负责人：小红" in reply and "行业匹配" in reply
    assert lead_of(leads_chat, 1).budget == 500000
    bad = leads_chat.say("lisi", "线索 启航教育 12ab")[-1].text()
    assert "命令格式不对" in bad and "电话" in bad
    assert len(all_leads(leads_chat)) == 1


def test_contacted_and_invalid_answers(leads_chat: Chat) -> None:
    lead_id, _, _ = post(leads_chat, "星辰教育", "13800000401", "K12", "华东")
    assert "不是你负责的" in leads_chat.say("xiaoming", f"已联系 L{lead_id}")[-1].text()
    leads_chat.say("zhangsan", f"已联系 L{lead_id}")
    assert lead_of(leads_chat, lead_id).status == "contacted"
    leads_chat.now = NOW + timedelta(hours=1)
    assert "原因" in leads_chat.say("zhangsan", f"无效 L{lead_id}")[-1].text()
    leads_chat.say("zhangsan", f"无效 L{lead_id} 空号")
    lead = lead_of(leads_chat, lead_id)
    assert (lead.status, lead.closed_reason) == ("invalid", "空号")
    with leads_chat.factory() as s:
        assert s.get(LeadLoad, "zhangsan").open_leads == 0


def test_others_cannot_see_or_close_a_reps_lead(leads_chat: Chat) -> None:
    lead_id, _, owner = post(leads_chat, "星辰教育", "13800000501", "K12", "华东")
    assert owner == "zhangsan"
    shown = leads_chat.say("xiaoming", f"线索 L{lead_id}")[-1].text()
    assert "只有负责人和主管可以查看" in shown and "13800000501" not in shown
    refused = leads_chat.say("xiaoming", f"无效 L{lead_id} 不想要")[-1].text()
    assert "只有负责人或主管" in refused and lead_of(leads_chat, lead_id).status == "assigned"
    assert "13800000501" in leads_chat.say("zhangsan", f"线索 L{lead_id}")[-1].text()
