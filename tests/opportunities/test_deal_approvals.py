"""Approvals that belong to a deal: a quote on an opportunity, sent back with 补充 (a return, not a
rejection), resubmitted and approved, moves the stage; an approved contract makes 赢单 possible."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Approval, Opportunity
from tests.opportunities.conftest import CUSTOMER, DealChat


def _texts(cards) -> str:
    return "\n".join(c.text() for c in cards)


def _opp(deal: DealChat) -> Opportunity:
    with deal.factory() as s:
        return s.scalars(select(Opportunity)).one()


def _approvals(deal: DealChat) -> list[Approval]:
    with deal.factory() as s:
        return list(s.scalars(select(Approval).order_by(Approval.id)))


def _in_proposal(deal: DealChat) -> str:
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    deal.say("zhangsan", f"证据 {code} 技术方案 方案已发客户")
    deal.say("zhangsan", f"阶段 {code} 方案提交")
    return code


def test_a_quote_sent_back_for_more_resubmitted_and_approved_moves_the_stage(deal: DealChat):
    code = _in_proposal(deal)
    reply = _texts(deal.say("zhangsan", f"报价 {code} 150000 首版报价"))
    [first] = _approvals(deal)
    assert first.opportunity_id == _opp(deal).id and f"商机：{code} 数据平台" in reply
    assert f"商机：{code}" in deal.texts_for("lisi")[-1]
    assert f"商机 {code}" in _texts(deal.say("lisi", "看板"))  # the board shows the deal

    # only the current approver may send it back
    assert "不能自己审批" in _texts(deal.say("zhangsan", f"补充 {first.code} 我自己退"))
    assert "请写上审批编号和需要补充的内容" in _texts(deal.say("lisi", f"补充 {first.code}"))
    assert _approvals(deal)[0].status == "pending"

    deal.say("lisi", f"补充 {first.code} 请附上成本测算表")
    [first] = _approvals(deal)
    assert (first.status, first.times_returned) == ("returned", 1)
    asked = deal.texts_for("zhangsan")[-1]
    assert "需要补充材料" in asked and "请附上成本测算表" in asked and f"报价 {first.code}" in asked

    deal.say("zhangsan", f"报价 {first.code} 150000 已附成本测算表")
    first, second = _approvals(deal)
    assert (second.previous_id, second.opportunity_id, second.times_returned) == (first.id, first.opportunity_id, 1)
    ask = deal.texts_for("lisi")[-1]
    assert "已退回补充：请附上成本测算表" in ask and "备注：已附成本测算表" in ask

    deal.say("lisi", f"同意 {second.code}")
    deal.say("zhaoliu", f"同意 {second.code}")
    assert _approvals(deal)[1].status == "approved"
    opp = _opp(deal)
    assert opp.stage == "价格谈判"
    assert any("已从「方案提交」进入「价格谈判」" in t for t in deal.texts_for("zhangsan"))
    assert "报价单：" in _texts(deal.say("zhangsan", f"商机 {code}"))


def test_an_approved_contract_is_the_contract_evidence_won_needs(deal: DealChat):
    code = _in_proposal(deal)
    assert "还缺少：合同" in _texts(deal.say("zhangsan", f"赢单 {code}"))
    deal.say("zhangsan", f"合同 {code} 150000 正式合同")
    contract = _approvals(deal)[0]
    deal.say("lisi", f"同意 {contract.code}")
    assert _approvals(deal)[0].status == "approved"
    assert any(f"赢单 {code}" in t for t in deal.texts_for("zhangsan"))
    assert _opp(deal).stage == "方案提交"  # a candidate, not won until the rep says so
    assert "恭喜赢单" in _texts(deal.say("zhangsan", f"赢单 {code}"))


def test_a_quote_on_someone_elses_or_an_unknown_opportunity_is_refused(deal: DealChat):
    code = _in_proposal(deal)
    assert "不是你参与的商机" in _texts(deal.say("zhaoliu", f"报价 {code} 150000"))
    assert "没有找到商机" in _texts(deal.say("zhangsan", "报价 O999 150000"))
    assert "请写上金额" in _texts(deal.say("zhangsan", f"报价 {code}"))
    assert _approvals(deal) == []
