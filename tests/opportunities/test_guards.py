"""Every opportunity refusal, sent as the hostile request it guards against: someone outside the deal,
a rep doing a manager's part, a malformed code or value. Nothing changes when refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import AuditEntry, Opportunity
from tests.opportunities.conftest import CUSTOMER, DealChat


def _texts(cards) -> str:
    return "\n".join(c.text() for c in cards)


def _opened(deal: DealChat) -> str:
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台 68万")
    with deal.factory() as s:
        return s.scalars(select(Opportunity)).one().code


def _audit_count(deal: DealChat) -> int:
    with deal.factory() as s:
        return len(s.scalars(select(AuditEntry).where(AuditEntry.entity == "opportunity")).all())


@pytest.mark.parametrize("command", [
    "证据 {code} 会议纪要 伪造的纪要",
    "成员 {code} 方案 赵六",
    "变更 {code} 技术 IT 报价 我也来改",
    "赢单 {code}",
    "输单 {code} 价格",
    "商机 {code} 金额 1",
    "阶段 {code} 方案提交",
])
def test_someone_outside_the_deal_changes_nothing(deal: DealChat, command: str):
    code = _opened(deal)
    before = _audit_count(deal)
    assert "无权操作" in _texts(deal.say("zhaoliu", command.format(code=code)))
    assert _audit_count(deal) == before


def test_only_a_manager_changes_the_sales_owner(deal: DealChat):
    code = _opened(deal)
    assert "无权更换销售" in _texts(deal.say("zhangsan", f"成员 {code} 销售 赵六"))
    assert "销售：赵六" in _texts(deal.say("lisi", f"成员 {code} 销售 赵六"))


def test_malformed_codes_and_values_are_usage_replies(deal: DealChat):
    code = _opened(deal)
    assert "请写上编号" in _texts(deal.say("zhangsan", "阶段 OX12 方案提交"))
    assert "没有找到商机" in _texts(deal.say("zhangsan", "阶段 O999 方案提交"))
    assert "日期「明年」写法不对" in _texts(deal.say("zhangsan", f"商机 {code} 预计成交 明年"))
    assert "没有名为「夏天」的阶段" in _texts(deal.say("zhangsan", f"阶段 {code} 夏天"))
    assert "通讯录里没有唯一叫「不存在」的同事" in _texts(deal.say("zhangsan", f"成员 {code} 方案 不存在"))


def test_amount_and_expected_close_are_edited_and_audited(deal: DealChat):
    code = _opened(deal)
    assert "金额已改为 72万" in _texts(deal.say("zhangsan", f"商机 {code} 金额 72万"))
    deal.say("zhangsan", f"商机 {code} 预计成交 2026-12-31")
    shown = _texts(deal.say("zhangsan", f"商机 {code}"))
    assert "720,000" in shown and "预计成交：2026-12-31" in shown and "金额：680000.00 → 720000" in shown


def test_of_two_stage_moves_racing_only_the_first_happens(deal: DealChat):
    """Both read the opportunity in 需求确认; the second move's WHERE no longer matches."""
    from storage import opportunities as repo
    from storage.db import transaction
    from tests.conftest import NOW

    _opened(deal)
    with transaction(deal.factory) as s:
        first = s.scalars(select(Opportunity)).one()
        assert repo.move_stage(s, first, "需求确认", "方案提交", NOW, "lisi")
    with transaction(deal.factory) as s:
        second = s.scalars(select(Opportunity)).one()
        assert not repo.move_stage(s, second, "需求确认", "价格谈判", NOW, "zhangsan")
    with deal.factory() as s:
        assert s.scalars(select(Opportunity)).one().stage == "方案提交"
        stage_moves = s.scalars(select(AuditEntry).where(AuditEntry.field == "stage",
                                                     AuditEntry.entity == "opportunity")).all()
        assert [(e.actor, e.after) for e in stage_moves] == [("lisi", "方案提交")]
