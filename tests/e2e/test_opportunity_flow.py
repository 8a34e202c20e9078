"""Issue 13's done-when, end to end the way a deployment runs: a rep in WeCom opens an opportunity,
is told what evidence a stage lacks, attaches the PDF the archive import brought in, hands off to
delivery (escalated by `tick --at` when nobody claims it), records a requirement change, gets a quote
on the deal sent back with 补充, resubmits it and sees the stage follow, is warned when the deal sits
too long, and wins it only with a contract. WeCom and DingTalk are fakes on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from storage import customers
from storage.db import transaction
from storage.models import Approval, Customer, Opportunity
from tests.conftest import NOW
from tests.dingtalk.conftest import APP_KEY, APP_SECRET, dingtalk_toml
from tests.e2e.test_approval_across_platforms import Deployment
from tests.fakes.dingtalk import FakeDingTalkServer
from tests.fakes.wecom import FakeWeComServer
from tests.wecom.conftest import APP_SECRET as WECOM_SECRET
from tests.wecom.conftest import CONTACT_SECRET, CORP_ID, wecom_toml

EXTERNAL = "wmHUAWEI01"
ORG = """
[[users]]
id = "zhangsan"
name = "张三"
role = "rep"
manager = "lisi"
wecom_userid = "zhangsan"

[[users]]
id = "lisi"
name = "李四"
role = "manager"
manager = "wangwu"
dingtalk_userid = "ding_lisi"

[[users]]
id = "wangwu"
name = "王五"
role = "director"
dingtalk_userid = "ding_wangwu"

[[users]]
id = "zhougong"
name = "周工"
role = "solution"
manager = "wangwu"
dingtalk_userid = "ding_zhougong"

[[users]]
id = "wugong"
name = "吴工"
role = "delivery"
manager = "wangwu"
dingtalk_userid = "ding_wugong"

[[approvals]]
kind = "quote"
sla_hours = 24
steps = [{ approver = "manager" }]

[[approvals]]
kind = "contract"
sla_hours = 48
steps = [{ approver = "manager" }]

[[rules]]
name = "requirement_change"
label = "需求变更"
kind = "change"
keywords = ["新增", "追加", "还要加", "验收标准"]
advice = "用「变更」命令记到商机上。"
"""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeWeComServer, FakeDingTalkServer]]:
    with FakeWeComServer(corp_id=CORP_ID, secrets=(WECOM_SECRET, CONTACT_SECRET)) as wecom, \
            FakeDingTalkServer(app_key=APP_KEY, app_secret=APP_SECRET) as dingtalk:
        yield wecom, dingtalk


@pytest.fixture
def deployment(write_config, fakes) -> Iterator[Deployment]:
    wecom, dingtalk = fakes
    config = write_config(wecom_toml(wecom.api_base) + dingtalk_toml(dingtalk.url) + ORG, users=False, rules=False)
    dep = Deployment(config, wecom, dingtalk)
    yield dep
    dep.close()


def _archive(dep: Deployment, tmp_path: Path, *records: dict) -> None:
    """`salesbot archive import FILE`, as an operator runs it: stored, handled and sent at once (by the
    wall clock: the import takes no --at), then the web worker's loop at the test's clock."""
    path = tmp_path / f"archive{dep.seq}.jsonl"
    dep.seq += 1
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    assert main(["archive", "import", str(path), "--config", str(dep.config)]) == 0
    dep.pump()


def _ms(at) -> int:
    return int(at.timestamp() * 1000)


def _opp(dep: Deployment) -> Opportunity:
    with dep.runtime.factory() as s:
        return s.scalars(select(Opportunity)).one()


def _last(dep: Deployment) -> str:
    return dep.wecom_texts("zhangsan")[-1]


def test_an_opportunity_from_first_stage_to_won(deployment: Deployment, tmp_path: Path):
    dep = deployment
    dep.wecom_says("zhangsan", "关联 华为技术有限公司")
    with transaction(dep.runtime.factory) as s:  # the customer's WeCom contact, as the contact sync records it
        customer = s.scalars(select(Customer)).one()
        customers.add_identity(s, customer, "wecom", EXTERNAL, "华为 王总")

    # created from WeCom; the reply names the code
    dep.wecom_says("zhangsan", "商机 华为技术有限公司 数据平台 68万")
    code = _opp(dep).code
    assert f"已创建商机 {code}" in _last(dep)
    dep.wecom_says("zhangsan", f"成员 {code} 方案 周工")

    # 方案提交 without evidence: told exactly what is missing and how to add it
    dep.wecom_says("zhangsan", f"阶段 {code} 方案提交")
    assert "还缺少：技术方案" in _last(dep) and f"证据 {code} 技术方案" in _last(dep)
    assert _opp(dep).stage == "需求确认"

    # the PDF sent to the customer arrives by archive import; 证据 attaches it
    _archive(dep, tmp_path,
             {"msgid": "a1", "action": "send", "from": "zhangsan", "tolist": [EXTERNAL], "msgtime": _ms(NOW),
              "msgtype": "file", "file": {"filename": "数据平台技术方案v2.pdf", "filesize": 524288,
                                          "md5sum": "9e107d9d372bb6826bd81d3542a419d6"}},
             {"msgid": "a2", "action": "send", "from": EXTERNAL, "tolist": ["zhangsan"],
              "msgtime": _ms(NOW + timedelta(minutes=30)), "msgtype": "text", "text": {"content": "收到，我们看看"}})
    dep.wecom_says("zhangsan", f"证据 {code} 技术方案 客户已收到方案")
    assert "数据平台技术方案v2.pdf" in _last(dep)
    dep.wecom_says("zhangsan", f"阶段 {code} 方案提交")
    assert _opp(dep).stage == "方案提交"

    # 方案确认 hands off to delivery; nobody claims it; 72 h later the director hears, once
    dep.wecom_says("zhangsan", f"阶段 {code} 方案确认")
    assert _opp(dep).stage == "方案确认"
    [offer] = dep.dingtalk_cards("ding_wugong")
    assert "实施资源预约" in offer
    dep.tick(NOW + timedelta(hours=71))
    assert dep.dingtalk_cards("ding_wangwu") == []
    dep.tick(NOW + timedelta(hours=73))
    dep.tick(NOW + timedelta(hours=74))
    [escalated] = dep.dingtalk_cards("ding_wangwu")
    assert "无人认领" in escalated and "实施资源预约" in escalated

    # the customer asks for a new acceptance criterion: a to-do to record it; 变更 tells manager + solution lead
    _archive(dep, tmp_path, {"msgid": "a3", "action": "send", "from": EXTERNAL, "tolist": ["zhangsan"],
                             "msgtime": _ms(dep.clock()), "msgtype": "text",
                             "text": {"content": "验收的时候还要加一条验收标准：并发 500 用户"}})
    assert any("需求变更" in t for t in dep.wecom_texts("zhangsan"))
    before_lisi = len(dep.dingtalk_cards("ding_lisi"))
    dep.wecom_says("zhangsan", f"变更 {code} 技术 客户决策人 交付周期 新增验收标准：并发 500 用户")
    assert len(dep.dingtalk_cards("ding_lisi")) == before_lisi + 1
    assert len([c for c in dep.dingtalk_cards("ding_zhougong") if "并发 500" in c]) == 1

    # a quote on the opportunity: sent back with 补充, resubmitted, approved; the stage follows
    dep.wecom_says("zhangsan", f"报价 {code} 680000 首版")
    with dep.runtime.factory() as s:
        first = s.scalars(select(Approval)).one()
    assert f"商机：{code}" in dep.dingtalk_cards("ding_lisi")[-1]
    dep.dingtalk_says("ding_lisi", f"补充 {first.code} 请附上成本测算表")
    assert "请附上成本测算表" in _last(dep)
    dep.wecom_says("zhangsan", f"报价 {first.code} 680000 已附成本测算表")
    opp_id = _opp(dep).id
    with dep.runtime.factory() as s:
        first, second = s.scalars(select(Approval).order_by(Approval.id)).all()
        assert (first.status, first.times_returned, second.opportunity_id) == ("returned", 1, opp_id)
    dep.dingtalk_says("ding_lisi", f"同意 {second.code}")
    opp = _opp(dep)
    assert opp.stage == "价格谈判"
    entered = opp.entered_stage_at

    # 15 days in 价格谈判: yellow, and the owner is told once
    dep.tick(entered + timedelta(days=15))
    dep.tick(entered + timedelta(days=15, hours=1))
    assert len([t for t in dep.wecom_texts("zhangsan") if "黄灯" in t and code in t]) == 1
    assert _opp(dep).flag == "yellow"

    # 赢单 without a contract is refused; with an approved contract it is accepted
    dep.wecom_says("zhangsan", f"赢单 {code}")
    assert "还缺少：合同" in _last(dep) and _opp(dep).status == "open"
    dep.wecom_says("zhangsan", f"合同 {code} 680000 正式合同")
    with dep.runtime.factory() as s:
        contract = s.scalars(select(Approval).where(Approval.kind == "contract")).one()
    dep.dingtalk_says("ding_lisi", f"同意 {contract.code}")
    dep.wecom_says("zhangsan", f"赢单 {code}")
    assert "恭喜赢单" in _last(dep)
    assert (_opp(dep).status, _opp(dep).stage) == ("won", "赢单")
    with dep.runtime.factory() as s:
        assert s.scalars(select(Customer)).one().stage == "won"
