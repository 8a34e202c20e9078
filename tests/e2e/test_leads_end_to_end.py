"""The issue's end-to-end run with the fakes: marketing POSTs leads, the duplicate goes to its owner,
the weights pick the others (reason visible), the fuse overflows to the pool, an inactive rep gets
none; `tick --at` 25 h later reminds once, 49 h later the lead is in the pool and another rep claims
it; a CSV with two bad rows imports the rest; a DingTalk user_leave_org hands everything over and the
WeCom transfer calls reach the fake with the right ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dingtalk.crypto import DingTalkCrypto
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.channels import build_channels
from bot.cli import main
from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers import contacts, handover
from handlers.model import InboundMessage
from scheduler.runner import Worker
from storage import customers, todos
from storage.db import transaction
from storage.models import Approval, ApprovalStep, Customer, Lead, OutboxItem, Todo, User
from storage.queues import store_inbound
from tests.conftest import NOW
from tests.dingtalk.conftest import AES_KEY, APP_KEY, EVENT_TOKEN, dingtalk_toml
from tests.fakes.dingtalk import FakeDingTalkServer
from tests.fakes.wecom import FakeWeComServer
from tests.leads.conftest import LEADS_TOML
from tests.wecom.conftest import APP_SECRET, CONTACT_SECRET, CORP_ID, wecom_toml

TOKEN = "marketing-token-0123456789"
E2E_TOML = (LEADS_TOML.replace("industry_daily_max = 2", "industry_daily_max = 1")
            .replace('name = "小明"\n', 'name = "小明"\nwecom_userid = "xiaoming"\n')
            .replace('name = "小红"\n', 'name = "小红"\nwecom_userid = "xiaohong"\n')) + """
[[leads.reps]]
id = "aaron"
industries = ["K12", "制造"]
region = "华东"

[[users]]
id = "aaron"
name = "阿伦"
role = "rep"
manager = "lisi"
"""


class Deployment:
    """salesbot as deployed: the web app, a worker with real channels to the fakes, a clock."""

    def __init__(self, runtime: Runtime, config: Path) -> None:
        self.runtime, self.config, self.now = runtime, config, NOW
        self.app = create_app(runtime=runtime, clock=lambda: self.now).test_client()
        runtime.channels = build_channels(runtime.settings, runtime.factory)
        self.worker = Worker(runtime.factory, runtime.holder.current, runtime.channels, "w1", clock=lambda: self.now)
        self._n = 0

    def post_lead(self, **fields: str) -> dict:
        resp = self.app.post("/api/leads", json=fields, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 201, resp.get_json()
        self.worker.pump()
        return resp.get_json()

    def say(self, user: str, text: str) -> str:
        self._n += 1
        msg = InboundMessage(platform="console", sender=user, conversation=user, text=text, msg_id=f"c{self._n}",
                             time=self.now)
        with transaction(self.runtime.factory) as s:
            store_inbound(s, "console", msg.dedupe_key, "message", msg.to_dict(), self.now)
        self.worker.pump()
        with self.runtime.factory() as s:
            row = s.scalars(select(OutboxItem).where(OutboxItem.target == user, OutboxItem.channel == "console")
                            .order_by(OutboxItem.id.desc())).first()
            return "\n".join([row.card["title"], *row.card["lines"]]) if row else ""

    def cards_to(self, user_id: str) -> list[str]:
        with self.runtime.factory() as s:
            rows = s.scalars(select(OutboxItem).where(OutboxItem.recipient_id == user_id).order_by(OutboxItem.id))
            return ["\n".join([r.card["title"], *r.card["lines"]]) for r in rows]

    def tick(self, at: datetime, capsys: pytest.CaptureFixture[str]) -> list[str]:
        self.now = at
        assert main(["tick", "--at", at.isoformat(), "--config", str(self.config)]) == 0
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("lead_first_contact")]

    def lead(self, code: str) -> Lead:
        with self.runtime.factory() as s:
            found = s.get(Lead, int(code[1:]))
            assert found is not None
            return found

    def dingtalk_event(self, event: dict) -> None:
        sealed = DingTalkCrypto(EVENT_TOKEN, AES_KEY, APP_KEY).encrypt_message(
            json.dumps(event), "n0nce", str(int(self.now.timestamp() * 1000)))
        query = urlencode({"msg_signature": sealed["msg_signature"], "timestamp": sealed["timeStamp"],
                           "nonce": sealed["nonce"]})
        resp = self.app.post(f"/dingtalk/events?{query}", data=json.dumps({"encrypt": sealed["encrypt"]}),
                             content_type="application/json")
        assert resp.status_code == 200
        self.worker.pump()


@pytest.fixture
def deployment(write_config: Callable[..., Path], engine: Engine,
               factory: sessionmaker[Session]) -> Iterator[Deployment]:
    with FakeWeComServer(corp_id=CORP_ID, secrets=(APP_SECRET, CONTACT_SECRET)) as wecom, \
            FakeDingTalkServer(app_key=APP_KEY, app_secret="salesbot-test-app-secret") as ding:
        config = write_config(wecom_toml(wecom.api_base) + dingtalk_toml(ding.url) + E2E_TOML)
        runtime = Runtime(SettingsHolder(load_settings(config, environ={})), engine, factory)
        sync_directory(runtime)
        d = Deployment(runtime, config)
        d.wecom = wecom  # type: ignore[attr-defined]
        yield d
        contacts.register_directory("wecom", None)
        handover.register_transfer("wecom", None)


def test_leads_end_to_end(deployment: Deployment, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    d = deployment
    with transaction(d.runtime.factory) as s:
        s.get(User, "aaron").active = False  # an inactive rep with the best profile
        customers.create(s, "远航机床有限公司", "xiaoming", NOW - timedelta(days=3), "test")

    # marketing POSTs three leads: the duplicate goes to its owner, the weights pick the others
    dup = d.post_lead(company="远航机床（上海）有限公司", phone="13800000001", industry="制造", region="华东")
    k12 = d.post_lead(company="星辰教育", phone="13800000002", industry="K12", region="华东")
    made = d.post_lead(company="春芽机械", phone="13800000003", industry="制造", region="华东")
    assert (dup["status"], dup["owner"]) == ("followup", "xiaoming")
    assert (k12["status"], k12["owner"]) == ("assigned", "zhangsan")
    assert (made["status"], made["owner"]) == ("assigned", "xiaoming")
    shown = d.say("lisi", f"线索 {k12['code']}")
    assert "分给 张三" in shown and "行业匹配" in shown and "小明" in shown
    # a fourth lead of the same industry for the same rep overflows to the pool (industry_daily_max = 1)
    fused = d.post_lead(company="秋实学堂", phone="13800000004", industry="K12", region="华东")
    assert (fused["status"], fused["owner"]) == ("pool", None)
    assert "行业熔断" in d.lead(fused["code"]).reason["why"]
    # the inactive rep got none
    with d.runtime.factory() as s:
        assert s.scalar(select(Lead.id).where(Lead.owner_id == "aaron")) is None

    # 25 h later: the rep reminded and the manager told, once
    assert d.tick(NOW + timedelta(hours=25), capsys) == [
        f"lead_first_contact: {k12['code']}: zhangsan reminded, manager told",
        f"lead_first_contact: {made['code']}: xiaoming reminded, manager told"]
    assert d.tick(NOW + timedelta(hours=26), capsys) == []
    assert len([c for c in d.cards_to("zhangsan") if "24 小时未联系" in c]) == 1
    assert len([c for c in d.cards_to("lisi") if f"{k12['code']} 星辰教育" in c and "超时未联系" in c]) == 1
    # 49 h later: in the pool; another rep claims it with a reason
    lines = d.tick(NOW + timedelta(hours=49), capsys)
    assert f"lead_first_contact: {k12['code']}: back to the public pool (was zhangsan)" in lines
    assert d.lead(k12["code"]).status == "pool"
    assert any(f"线索收回公海：{k12['code']}" in c for c in d.cards_to("xiaoming"))
    assert "已申领线索" in d.say("xiaoming", f"申领 {k12['code']} 做过三家K12学校")
    claimed = d.lead(k12["code"])
    assert (claimed.status, claimed.owner_id) == ("assigned", "xiaoming")
    assert "做过三家K12学校" in claimed.reason["why"]

    # a CSV with two bad rows imports the rest and names the bad rows
    csv_path = tmp_path / "expo.csv"
    csv_path.write_text("公司,电话,行业,预算,区域\n冬青书院,13800000011,K12,,华东\n坏电话公司,12ab,K12,,华东\n"
                        "坏预算公司,13800000013,K12,很多,华东\n夏荷物流,13800000014,物流,,华东\n", encoding="utf-8")
    assert main(["leads", "import", str(csv_path), "--config", str(d.config), "--at", d.now.isoformat()]) == 1
    out = capsys.readouterr()
    assert "第3行「电话」列" in out.err and "第4行「预算」列" in out.err
    assert json.loads(out.out.splitlines()[-1]) == {"imported": 2, "repeated": 0, "bad": 2}

    # zhangsan owns a WeCom customer with a group chat, an open to-do, and a pending approval step
    with transaction(d.runtime.factory) as s:
        mine = customers.create(s, "华为技术有限公司", "zhangsan", d.now, "test")
        customers.add_identity(s, mine, "wecom", "wmHUAWEI01")
        customers.link_conversation(s, "wecom", "wrGROUP01", mine, "group", "华为项目群", d.now, "test")
        todo = todos.add(s, title="给华为寄样品", at=d.now, actor="test", owner_id="zhangsan", customer_id=mine.id)
        approval = Approval(kind="quote", customer_id=mine.id, submitter_id="xiaoming", amount=100000, note="",
                            status="pending", created_at=d.now)
        s.add(approval)
        s.flush()
        step = ApprovalStep(approval_id=approval.id, position=0, approver_spec="user:zhangsan",
                            approver_id="zhangsan", status="pending", sla_hours=24, started_at=d.now)
        s.add(step)
        s.flush()
        mine_id, todo_id, step_id = mine.id, todo.id, step.id

    # DingTalk says zhangsan left the org
    d.dingtalk_event({"EventType": "user_leave_org", "TimeStamp": str(int(d.now.timestamp() * 1000)),
                      "UserId": ["ding_zhangsan"], "CorpId": "ding-corp"})
    with d.runtime.factory() as s:
        assert s.get(User, "zhangsan").active is False
        successor = s.get(Customer, mine_id).owner_id
        assert successor in ("xiaohong", "xiaoming")
        assert s.get(Todo, todo_id).owner_id == successor
        moved = s.get(ApprovalStep, step_id)
        assert moved.approver_id == "lisi" and "张三 已交接" in (moved.note or "")  # the approver's manager
        assert s.scalars(select(Customer).where(Customer.owner_id == "zhangsan")).all() == []
    checklist = [c for c in d.cards_to(successor) if "《客户交接清单》" in c]
    assert len(checklist) == 1 and "华为技术有限公司" in checklist[0] and "给华为寄样品" in checklist[0]
    # the next tick makes the WeCom calls (never inside the hand-over's transaction)
    assert main(["tick", "--at", d.now.isoformat(), "--config", str(d.config)]) == 0
    assert "platform_transfers: wecom customer wmHUAWEI01: started" in capsys.readouterr().out
    [call] = d.wecom.calls("externalcontact/resigned/transfer_customer")  # type: ignore[attr-defined]
    assert call.json == {"handover_userid": "zhangsan", "takeover_userid": successor,
                         "external_userid": ["wmHUAWEI01"]}
    [group] = d.wecom.calls("externalcontact/groupchat/transfer")  # type: ignore[attr-defined]
    assert group.json == {"chat_id_list": ["wrGROUP01"], "new_owner": successor}

    # the transfer is polled; a refusal is reported
    d.wecom.transfer_status["wmHUAWEI01"] = 3  # type: ignore[attr-defined]
    d.now += timedelta(hours=7)
    assert main(["tick", "--at", d.now.isoformat(), "--config", str(d.config)]) == 0
    assert "platform_transfers: wecom customer wmHUAWEI01: failed" in capsys.readouterr().out
    d.now += timedelta(hours=7)
    assert main(["tick", "--at", d.now.isoformat(), "--config", str(d.config)]) == 0
    assert "platform_transfers" not in capsys.readouterr().out  # settled: asked no more
    assert any("客户转接失败" in c and "客户拒绝了接替" in c for c in d.cards_to(successor))
