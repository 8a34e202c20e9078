"""The same flow from WeCom and DingTalk messages: platform ids resolve to the same people."""

from __future__ import annotations

from sqlalchemy import select

from storage import customers
from storage.models import RiskEvent, Todo
from tests.conftest import NOW


def test_wecom_archive_words_of_a_known_customer(flow):
    with flow.runtime.factory.begin() as s:
        vivo = customers.create(s, "vivo", "zhangsan", NOW, "test")
        customers.add_identity(s, vivo, "wecom", "wmVIVO01", "陈总")
    chat = "zhangsan|wmVIVO01"
    out = flow.send("我们也在看别家的方案，价格太贵了", "wmVIVO01", platform="wecom", conversation=chat,
                    from_customer=True, source="archive")
    assert {who for who, _ in out.titled("客户风险提示：竞品威胁")} == {"zhangsan", "lisi"}
    # What the rep answered in the same archived chat is not scanned.
    assert flow.send("别家的没我们好，价格可以打折", "zhangsan", platform="wecom", conversation=chat,
                     source="archive").items == []
    with flow.runtime.factory() as s:
        assert {e.rule for e in s.scalars(select(RiskEvent))} == {"competitor", "price_cut"}
    pack = flow.send("应对 R1", "zhangsan", platform="wecom").to("zhangsan")
    assert pack[0].title == "应对建议 R1：竞品威胁"


def test_dingtalk_group_customer_request_and_completion(flow):
    flow.send("关联 小米", "ding_zhangsan", platform="dingtalk", conversation="cidXIAOMI", group=True, source="robot")
    out = flow.send("账期能不能给到60天？", "$:LWCP_v1:$cust", platform="dingtalk", conversation="cidXIAOMI",
                    from_customer=True, group=True, source="robot")
    assert out.to("zhangsan")[0].title == "新待办 T1：账期咨询"
    assert flow.send("完成 T1", "ding_zhaoliu", platform="dingtalk", source="robot").to("ding_zhaoliu")[0].title \
        == "无法完成"
    assert flow.send("完成 T1", "ding_lisi", platform="dingtalk", source="robot").to("ding_lisi")[0].title \
        == "待办已完成"
    with flow.runtime.factory() as s:
        assert s.scalars(select(Todo)).one().done_by == "lisi"
