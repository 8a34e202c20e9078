"""A customer's words raise risk cards on the right customer for the right people; 应对 gives the pack."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Customer, RiskEvent


def _events(flow):
    with flow.runtime.factory() as s:
        return s.scalars(select(RiskEvent).order_by(RiskEvent.id)).all()


def test_price_pressure_reaches_owner_and_manager_with_the_words_marked(flow):
    out = flow.customer_says("你们的价格太高了，能不能再降价一些？")
    cards = out.titled("客户风险提示")
    assert {who for who, _ in cards} == {"zhangsan", "lisi"}
    card = cards[0][1]
    text = card.text()
    assert card.title == "客户风险提示：降价压力"
    assert "客户：华为（负责人：张三）" in text
    assert "「你们的价格太高了，能不能再【降价】一些？」" in text
    assert "级别：中" in text and "编号：R1" in text
    assert "建议应对：先问清预算和比较对象" in text
    assert "历史同类案例：暂无" in text
    assert [b.command for b in card.buttons] == ["应对 R1", "有用 R1", "误报 R1"]
    (event,) = _events(flow)
    with flow.runtime.factory() as s:
        huawei = s.scalars(select(Customer).where(Customer.name == "华为")).one()
    assert (event.customer_id, event.rule, event.label, event.severity, event.keyword) == (
        huawei.id, "price_cut", "降价压力", "medium", "降价")
    assert event.message_id is not None and event.hits == 1 and event.status == "open"


def test_a_repeat_inside_the_cooldown_joins_the_open_event(flow):
    flow.customer_says("能不能便宜点")
    flow.later(hours=3)
    again = flow.customer_says("还是太贵了")
    assert again.titled("客户风险提示") == []
    (event,) = _events(flow)
    assert event.hits == 2 and event.last_hit_at == flow.now
    flow.later(hours=25)  # quiet for longer than the cooldown: a new event and a new card
    third = flow.customer_says("再给点优惠吧")
    assert {who for who, _ in third.titled("客户风险提示")} == {"zhangsan", "lisi"}
    assert [e.hits for e in _events(flow)] == [2, 1]


def test_one_message_raising_three_risks_sends_each_recipient_one_card(flow):
    out = flow.customer_says("再不降价我们就换一家，友商都给了")
    cards = out.titled("客户风险提示")
    assert sorted(who for who, _ in cards) == ["lisi", "wangwu", "zhangsan"]  # one card each
    owner_card = out.to("zhangsan")[0]
    assert owner_card.title == "客户风险提示：竞品威胁、降价压力、流失风险"
    text = owner_card.text()
    assert "「再不【降价】我们就【换一家】，【友商】都给了」" in text
    assert "风险：降价压力　级别：中　编号：" in text and "风险：流失风险　级别：高" in text
    assert "建议应对：24 小时内约客户决策人面谈" in text and "反馈：回复「有用 编号」或「误报 编号」" in text
    assert [b.command for b in owner_card.buttons] == ["应对 R1", "应对 R2", "应对 R3", "误报 R1", "误报 R2", "误报 R3"]
    # churn also notifies the director: he gets one card with the churn risk only
    director = out.to("wangwu")[0]
    assert director.title == "客户风险提示：流失风险" and "降价压力" not in director.text()
    assert len(_events(flow)) == 3  # one event per rule, each with its own votes and outcome


def test_negated_and_fragment_mentions_raise_nothing(flow):
    out = flow.customer_says("我们不打算换供应商，也暂时没有考虑别家")
    out2 = flow.customer_says("这个方案是针对手机的")
    assert out.items == [] and out2.items == []
    assert _events(flow) == []


def test_what_a_rep_writes_to_a_customer_raises_nothing(flow):
    out = flow.send("我们可以给您打折，比友商便宜，不会让您换供应商", "zhangsan", conversation="g-huawei",
                    group=True, source="archive")
    assert out.items == [] and _events(flow) == []


def test_earlier_cases_on_other_customers_show_what_became_of_them(flow):
    flow.send("关联 小米", conversation="g-xiaomi", group=True)
    flow.send("关联 OPPO", conversation="g-oppo", group=True)
    flow.customer_says("友商报价比你们低", conversation="g-xiaomi", sender="cust-lei")
    flow.later(hours=1)
    flow.customer_says("竞品那边也在谈", conversation="g-oppo", sender="cust-chen")
    with flow.runtime.factory.begin() as s:
        s.scalars(select(Customer).where(Customer.name == "小米")).one().stage = "won"
        s.scalars(select(Customer).where(Customer.name == "OPPO")).one().stage = "negotiation"
    flow.later(hours=1)
    out = flow.customer_says("你们的竞争对手给了更好的条件")
    text = out.to("zhangsan")[0].text()
    assert "历史同类案例（2）：" in text
    assert text.index("· OPPO") < text.index("· 小米")  # newest first
    assert "小米，11-02 17:00：赢单" in text
    assert "OPPO，11-02 18:00：跟进中（当前阶段：谈判）" in text
    assert "华为" not in text.split("历史同类案例")[1]  # only other customers


def test_response_pack_for_owner_and_managers_refused_to_others(flow):
    flow.send("关联 小米", conversation="g-xiaomi", group=True)
    flow.customer_says("友商便宜很多", conversation="g-xiaomi", sender="cust-lei")
    flow.later(hours=2)
    flow.customer_says("友商给了八折")
    code = _events(flow)[-1].code  # 华为's; 小米 got competitor and price_cut before
    pack = flow.send(f"应对 {code}", "zhangsan").to("zhangsan")[0]
    text = pack.text()
    assert pack.title == f"应对建议 {code}：竞品威胁"
    assert "客户原话：「【友商】给了八折」" in text
    assert "建议应对：先确认客户对比的是哪家" in text
    assert "历史同类案例（1）：" in text and "「【友商】便宜很多」" in text
    assert "客户概况：" in text and "负责人：张三" in text
    assert flow.send(f"应对{code.lower()}", "lisi").to("lisi")[0].title.startswith("应对建议")  # glued, any case
    assert flow.send(f"应对 {code}", "wangwu").to("wangwu")[0].title.startswith("应对建议")  # director
    refused = flow.send(f"应对 {code}", "zhaoliu").to("zhaoliu")[0]
    assert refused.title == "无权查看" and "友商" not in refused.text()
    assert flow.send("应对 R99", "zhangsan").to("zhangsan")[0].title == "没有找到"
    assert flow.send("应对 快", "zhangsan").to("zhangsan")[0].title == "命令格式不对"


def test_a_note_without_customer_tells_only_the_rep(flow):
    out = flow.send("客户说友商便宜", "wangwu")  # wangwu has no current customer
    assert out.recipients == {"wangwu"}
    risk = [c for _, c in out.titled("风险提示")]
    assert {c.title for c in risk} == {"风险提示：竞品威胁", "风险提示：降价压力"}
    assert all("还没有关联客户" in c.text() for c in risk)
    events = _events(flow)
    assert [e.customer_id for e in events] == [None, None]
    assert flow.send(f"应对 {events[0].code}", "wangwu").to("wangwu")[0].title.startswith("应对建议")
    assert flow.send(f"应对 {events[0].code}", "zhangsan").to("zhangsan")[0].title == "无权查看"


def test_a_note_about_the_current_customer_is_scanned(flow):
    flow.send("关联 华为")  # one-to-one: 华为 becomes zhangsan's current customer
    out = flow.send("拜访记录：客户提到要终止合作")
    assert {who for who, _ in out.titled("客户风险提示：流失风险")} == {"zhangsan", "lisi", "wangwu"}
    assert any(c.title == "已记录" for c in out.to("zhangsan"))


def test_public_pool_customer_risk_goes_to_the_director(flow):
    with flow.runtime.factory.begin() as s:
        huawei = s.scalars(select(Customer).where(Customer.name == "华为")).one()
        huawei.owner_id, huawei.status = None, "public"
    out = flow.customer_says("能不能打折")
    assert {who for who, _ in out.titled("客户风险提示")} == {"wangwu"}
    assert "负责人：无（公海）" in out.titled("客户风险提示")[0][1].text()
