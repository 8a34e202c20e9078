"""Opportunities through the real pipeline: opened, listed, shown with their timeline; stages opened
only by evidence taken from the chat (or a manager's audited override); won and lost."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEntry, Customer, Opportunity, OpportunityEvidence
from tests.opportunities.conftest import CUSTOMER, DealChat


def _texts(cards) -> str:
    return "\n".join(c.text() for c in cards)


def _opp(deal: DealChat) -> Opportunity:
    with deal.factory() as s:
        return s.scalars(select(Opportunity)).one()


def test_a_rep_opens_lists_and_shows_an_opportunity(deal: DealChat):
    [reply] = deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台 68万")
    opp = _opp(deal)
    assert f"已创建商机 {opp.code}" in reply.title and "680,000" in reply.text() and "需求确认" in reply.text()
    assert (opp.owner_id, opp.stage, opp.amount) == ("zhangsan", "需求确认", 680000)

    listed = _texts(deal.say("zhangsan", "商机"))
    assert opp.code in listed and "数据平台" in listed
    assert "你还没有商机" in _texts(deal.say("lisi", "商机"))  # lisi owns none

    shown = _texts(deal.say("zhangsan", f"商机 {opp.code}"))
    assert "时间线" in shown and "创建" in shown and CUSTOMER in shown

    deal.say("zhangsan", f"关联 {CUSTOMER}")
    card = _texts(deal.say("zhangsan", "客户"))  # the customer card lists its open deals
    assert "进行中的商机：1 个" in card and f"· {opp.code} 数据平台 · 需求确认 · " in card and "680,000" in card


def test_an_unknown_customer_is_not_created_by_the_opportunity_command(deal: DealChat):
    reply = _texts(deal.say("zhangsan", "商机 华为 数据平台"))
    assert "请确认客户" in reply and f"商机 {CUSTOMER} 数据平台" in reply
    with deal.factory() as s:
        assert s.scalars(select(Opportunity)).all() == []


def test_someone_outside_the_deal_cannot_see_or_move_it(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    assert "无权查看" in _texts(deal.say("zhaoliu", f"商机 {code}"))
    assert "无权操作" in _texts(deal.say("zhaoliu", f"阶段 {code} 方案提交 强制 我说的"))
    assert _opp(deal).stage == "需求确认"


def test_a_stage_without_its_evidence_is_refused_with_the_exact_command(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    reply = _texts(deal.say("zhangsan", f"阶段 {code} 方案提交"))
    assert "还缺少：技术方案" in reply and f"「证据 {code} 技术方案 [说明]」" in reply
    assert _opp(deal).stage == "需求确认"


def test_evidence_is_the_file_the_rep_sent_with_its_context(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    deal.archive("您好，方案今天发您", at=deal.now)
    deal.archive("[文件]", kind="file", file_name="数据平台方案v3.pdf", file_size=204800,
                 file_md5="0cc175b9c0f1b6a831c399e269772661")
    deal.now = deal.now.replace(hour=11)
    deal.archive("收到，方案我们认可", from_customer=True)

    reply = _texts(deal.say("zhangsan", f"证据 {code} 技术方案 客户已认可方案"))
    assert "数据平台方案v3.pdf" in reply and "技术方案" in reply and "客户回复时间" in reply
    with deal.factory() as s:
        ev = s.scalars(select(OpportunityEvidence)).one()
        assert (ev.file_name, ev.file_size, ev.file_md5) == ("数据平台方案v3.pdf", 204800,
                                                             "0cc175b9c0f1b6a831c399e269772661")
        assert ev.context["document"]["file_name"] == "数据平台方案v3.pdf"
        assert [m["text"] for m in ev.context["before"]] == ["您好，方案今天发您", "[文件]", "收到，方案我们认可"]
        assert ev.context["customer_reply_at"].startswith(deal.now.replace(tzinfo=None).isoformat()[:16])

    assert "已从「需求确认」进入「方案提交」" in _texts(deal.say("zhangsan", f"阶段 {code} 方案提交"))
    with deal.factory() as s:
        customer = s.scalars(select(Customer)).one()
        assert customer.stage == "proposal"  # the customer's stage follows


def test_without_a_file_the_description_is_a_typed_note_and_an_unknown_kind_lists_the_kinds(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    assert "没有可附的文件" in _texts(deal.say("zhangsan", f"证据 {code} 会议纪要"))
    assert "证据类型可选：会议纪要、技术方案" in _texts(deal.say("zhangsan", f"证据 {code} 纪要"))
    assert "文字记录「周一和王总开会确认需求」" in _texts(deal.say("zhangsan", f"证据 {code} 会议纪要 周一和王总开会确认需求"))


def test_a_manager_overrides_with_a_reason_audited_as_a_manual_intervention(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    assert "无权强制推进" in _texts(deal.say("zhangsan", f"阶段 {code} 方案提交 强制 着急"))
    assert "必须写原因" in _texts(deal.say("lisi", f"阶段 {code} 方案提交 强制"))
    assert _opp(deal).stage == "需求确认"
    reply = _texts(deal.say("lisi", f"阶段 {code} 方案提交 强制 客户口头确认，文件周一补"))
    assert "人工干预" in reply and "客户口头确认" in reply
    assert _opp(deal).stage == "方案提交"
    with deal.factory() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "opportunity")).all()
        stage = [e for e in entries if e.field == "stage"]
        assert [(e.actor, e.before, e.after) for e in stage] == [("lisi", "需求确认", "方案提交")]
        assert any(e.field == "manual_intervention" and e.note == "客户口头确认，文件周一补" for e in entries)


def test_won_needs_contract_evidence_and_lost_needs_a_configured_reason(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    assert "还缺少：合同" in _texts(deal.say("zhangsan", f"赢单 {code}"))
    assert _opp(deal).status == "open"
    assert "输单原因（价格、竞品" in _texts(deal.say("zhangsan", f"输单 {code} 不想做了"))
    deal.say("zhangsan", f"证据 {code} 合同 已盖章合同扫描件")
    assert "恭喜赢单" in _texts(deal.say("zhangsan", f"赢单 {code}"))
    opp = _opp(deal)
    assert (opp.status, opp.stage) == ("won", "赢单")
    with deal.factory() as s:
        assert s.scalars(select(Customer)).one().stage == "won"
    assert "已赢单" in _texts(deal.say("zhangsan", f"输单 {code} 价格"))


def test_lost_with_a_reason_moves_the_customer(deal: DealChat):
    deal.say("zhangsan", f"商机 {CUSTOMER} 数据平台")
    code = _opp(deal).code
    assert "已输单，原因：竞品 对手低价" in _texts(deal.say("zhangsan", f"输单 {code} 竞品 对手低价"))
    opp = _opp(deal)
    assert (opp.status, opp.lost_reason) == ("lost", "竞品 对手低价")
    with deal.factory() as s:
        assert s.scalars(select(Customer)).one().stage == "lost"
