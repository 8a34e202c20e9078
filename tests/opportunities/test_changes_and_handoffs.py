"""Requirement changes on record, hand-offs on entering a stage (claimable, escalated when nobody
takes them), and the dwell check that turns a stuck opportunity yellow, then red."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Opportunity, OpportunityChange, Todo
from tests.conftest import NOW
from tests.opportunities.conftest import CUSTOMER, DealChat, make_deal_chat

CHANGE_RULE = """
[[rules]]
name = "requirement_change"
label = "需求变更"
kind = "change"
keywords = ["新增", "追加", "还要加", "验收标准"]
advice = "用「变更 O12 …」记到商机上。"
"""


def _texts(cards) -> str:
    return "\n".join(c.text() for c in cards)


def _opp(deal: DealChat) -> Opportunity:
    with deal.factory() as s:
        return s.scalars(select(Opportunity)).one()


def _open_with_solution_lead(deal: DealChat) -> str:
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台 68万")
    code = _opp(deal).code
    assert "方案负责人：周工" in _texts(deal.say("zhangsan", f"成员 {code} 方案 周工"))
    return code


def test_a_change_needs_all_three_fields_and_unknown_values_get_the_choices(deal: DealChat):
    code = _open_with_solution_lead(deal)
    missing = _texts(deal.say("zhangsan", f"变更 {code} 技术"))
    assert "缺少提出方" in missing and "客户决策人、使用部门、IT" in missing
    unknown = _texts(deal.say("zhangsan", f"变更 {code} 技术 老板 报价 加一个报表"))
    assert "「老板」不是可选的提出方" in unknown
    assert "影响可选：交付周期、报价、合同条款" in _texts(deal.say("zhangsan", f"变更 {code} 法务 IT 工期 改条款"))
    with deal.factory() as s:
        assert s.scalars(select(OpportunityChange)).all() == []
    assert deal.cards_for("lisi") == [] and deal.cards_for("zhougong") == []


def test_a_change_tells_the_owners_manager_and_the_solution_lead_once_each(deal: DealChat):
    code = _open_with_solution_lead(deal)
    reply = _texts(deal.say("zhangsan", f"变更 {code} 技术 客户决策人 交付周期 新增一条验收标准：响应时间 < 2 秒"))
    assert "需求变更已记录" in reply and "李四" in reply and "周工" in reply
    for who in ("lisi", "zhougong"):
        [card] = deal.cards_for(who)
        assert "响应时间 < 2 秒" in card.text() and "客户决策人" in card.text()
    shown = _texts(deal.say("zhangsan", f"商机 {code}"))
    assert "需求变更（1 项）" in shown and "技术/客户决策人/交付周期" in shown


def test_a_customer_asking_for_more_raises_a_todo_to_record_it(write_config: Callable[..., Path], engine: Engine,
                                                               factory: sessionmaker[Session]):
    deal = make_deal_chat(write_config, engine, factory, CHANGE_RULE)
    deal.add_deal_customer()
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    deal.archive("验收的时候还要加一条验收标准：并发 500", from_customer=True)
    with deal.factory() as s:
        [todo] = s.scalars(select(Todo)).all()
        assert (todo.title, todo.owner_id, todo.source_rule) == ("需求变更", "zhangsan", "requirement_change")
    [card] = [t for t in deal.texts_for("zhangsan") if "需求变更" in t]
    assert f"「变更 {code} <技术|商务|法务>" in card and "验收标准" in card


def test_entering_a_stage_creates_a_claimable_handoff_escalated_to_the_director_once(deal: DealChat):
    code = _open_with_solution_lead(deal)
    deal.say("zhangsan", f"证据 {code} 技术方案 方案已发")
    reply = _texts(deal.say("zhangsan", f"阶段 {code} 方案确认"))
    assert "实施资源预约" in reply
    [offer] = deal.cards_for("wugong")  # the delivery role is offered it
    assert "实施资源预约" in offer.text() and "认领" in offer.text() and "方案负责人：周工" in offer.text()
    with deal.factory() as s:
        todo = s.scalars(select(Todo)).one()
        assert (todo.role, todo.owner_id) == ("delivery", None)

    deal.tick(NOW + timedelta(hours=71))
    assert not any(todo.code in t and "无人认领" in t for t in deal.texts_for("wangwu"))
    deal.tick(NOW + timedelta(hours=73))
    deal.tick(NOW + timedelta(hours=80))
    escalated = [t for t in deal.texts_for("wangwu") if todo.code in t and "无人认领" in t]
    assert len(escalated) == 1


def test_a_stage_past_max_days_turns_yellow_then_red_telling_owner_then_manager_once(deal: DealChat):
    code = _open_with_solution_lead(deal)  # 需求确认, max_days 14
    deal.tick(NOW + timedelta(days=14))
    assert not any("黄灯" in t for t in deal.texts_for("zhangsan"))
    deal.tick(NOW + timedelta(days=15))
    deal.tick(NOW + timedelta(days=16))
    assert len([t for t in deal.texts_for("zhangsan") if "黄灯" in t and code in t]) == 1
    assert _opp(deal).flag == "yellow"
    assert not any("红灯" in t for t in deal.texts_for("lisi"))
    deal.tick(NOW + timedelta(days=29))
    deal.tick(NOW + timedelta(days=30))
    assert len([t for t in deal.texts_for("lisi") if "红灯" in t and code in t]) == 1
    assert _opp(deal).flag == "red"
    assert "（红灯）" in _texts(deal.say("zhangsan", "商机"))

    # entering the next stage clears the flag and starts the clock again
    deal.now = NOW + timedelta(days=30)
    deal.say("zhangsan", f"证据 {code} 技术方案 方案")
    deal.say("zhangsan", f"阶段 {code} 方案提交")
    assert (_opp(deal).flag, _opp(deal).flag_level) == (None, 0)
