"""Robot messages over HTTP, end to end: really signed requests in, the fake DingTalk API out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from handlers import pipeline
from handlers.context import Context
from handlers.model import Card
from handlers.outbox import post
from storage.db import transaction
from storage.models import Conversation, Customer, InboundItem, Message, OutboxItem, User
from tests.conftest import NOW
from tests.dingtalk.conftest import ROBOT_CODE, ms, post_robot, pump, robot_payload, signed_headers


def _count(runtime, model) -> int:
    with runtime.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_rep_links_a_customer_one_to_one_and_notes_land_on_it(client, runtime, channel, fake_dingtalk):
    hook = fake_dingtalk.session_webhook("s-zhangsan")
    assert post_robot(client, robot_payload("关联 华为技术有限公司", "m1", webhook=hook)).status_code == 200
    pump(runtime, channel, NOW)
    with runtime.factory() as s:
        customer = s.scalars(select(Customer)).one()
        assert customer.name == "华为技术有限公司" and customer.owner_id == "zhangsan"
        assert s.get(User, "zhangsan").current_customer_id == customer.id
    [reply] = fake_dingtalk.calls("/robot/sendBySession")
    assert reply.query["session"] == "s-zhangsan"
    assert "已新建并关联客户" in reply.markdown["text"]

    at = NOW + timedelta(minutes=5)
    post_robot(client, robot_payload("客户说下周一签合同", "m2", webhook=hook, at=at), at=at)
    pump(runtime, channel, at)
    with runtime.factory() as s:
        note = s.scalars(select(Message).where(Message.platform_msg_id == "m2")).one()
        assert note.customer_id == customer.id and note.sender_user_id == "zhangsan" and not note.from_customer
    receipt = fake_dingtalk.calls("/robot/sendBySession")[-1]
    assert "已记到「华为技术有限公司」的时间线" in receipt.markdown["text"]


def test_group_linked_then_customer_words_land_on_the_customer(client, runtime, channel, fake_dingtalk,
                                                               monkeypatch):
    scanned = []
    monkeypatch.setattr(pipeline, "words_listeners",
                        [lambda ctx, stored, customer, msg: scanned.append((customer.name, msg.text)) or []])
    hook = fake_dingtalk.session_webhook("s-group")
    group = dict(group=True, conversation="cid-group-huawei", webhook=hook)
    post_robot(client, robot_payload("关联 华为技术有限公司", "g1", **group))
    pump(runtime, channel, NOW)
    with runtime.factory() as s:
        customer = s.scalars(select(Customer)).one()
        conv = s.scalars(select(Conversation)).one()
        assert (conv.conversation_id, conv.kind, conv.customer_id) == ("cid-group-huawei", "group", customer.id)
        assert conv.title == "华为项目群"
        # linking a group does not change the rep's one-to-one current customer
        assert s.get(User, "zhangsan").current_customer_id is None
    # the reply goes to the rep one-to-one: customers in the group never see the bot's internal answers
    [reply] = fake_dingtalk.calls("/v1.0/robot/oToMessages/batchSend")
    assert reply.json["userIds"] == ["ding_zhangsan"]
    assert "本群的消息将记入该客户的时间线" in reply.markdown["text"]
    assert fake_dingtalk.calls("/robot/sendBySession") == []

    at = NOW + timedelta(minutes=10)
    words = robot_payload("你们的价格太贵了，我们在考虑别家", "g2", staff_id=None, sender_id="$:LWCP_v1:$cust",
                          at=at, **group)
    note = robot_payload("明天把报价发给王总", "g3", at=at, **group)
    assert post_robot(client, words, at=at).status_code == 200
    assert post_robot(client, note, at=at).status_code == 200
    pump(runtime, channel, at)
    with runtime.factory() as s:
        said = s.scalars(select(Message).where(Message.platform_msg_id == "g2")).one()
        assert said.customer_id == customer.id and said.from_customer and said.sender == "$:LWCP_v1:$cust"
        typed = s.scalars(select(Message).where(Message.platform_msg_id == "g3")).one()
        assert typed.customer_id == customer.id and typed.sender_user_id == "zhangsan"
        assert s.get(Customer, customer.id).last_activity_at == at
    assert scanned == [("华为技术有限公司", "你们的价格太贵了，我们在考虑别家")]
    # no "note saved" receipts in a group, and nothing ever posted into the group: the only message out
    # is the private link reply
    assert len(fake_dingtalk.calls("/v1.0/robot/oToMessages/batchSend")) == 1
    assert fake_dingtalk.calls("/robot/sendBySession") == []


def test_a_card_reaches_the_rep_one_to_one(runtime, channel, fake_dingtalk):
    with transaction(runtime.factory) as session:
        post(Context(session, runtime.settings, NOW),
             [Card(title="待办提醒", lines=("客户华为：下周一前发送报价",), recipients=("zhangsan",))])
    report = pump(runtime, channel, NOW)
    assert len(report.sent) == 1
    [sent] = fake_dingtalk.calls("/v1.0/robot/oToMessages/batchSend")
    body = sent.json
    assert body["robotCode"] == ROBOT_CODE and body["userIds"] == ["ding_zhangsan"]
    assert body["msgKey"] == "sampleMarkdown"
    assert sent.markdown["title"] == "待办提醒" and "下周一前发送报价" in sent.markdown["text"]
    assert sent.headers["x-acs-dingtalk-access-token"].startswith("openapi-token")


def test_unknown_sender_gets_a_polite_reply_and_nothing_else(client, runtime, channel, fake_dingtalk):
    hook = fake_dingtalk.session_webhook("s-stranger")
    post_robot(client, robot_payload("关联 华为", "u1", staff_id="ding_stranger", webhook=hook))
    pump(runtime, channel, NOW)
    assert _count(runtime, Customer) == 0 and _count(runtime, Message) == 0
    [reply] = fake_dingtalk.calls("/robot/sendBySession")
    assert "还不在 salesbot 的通讯录中" in reply.markdown["text"]


def test_a_redelivered_message_is_handled_once(client, runtime, channel, fake_dingtalk):
    payload = robot_payload("关联 华为技术有限公司", "dup-1", webhook=fake_dingtalk.session_webhook())
    assert post_robot(client, payload).status_code == 200
    assert post_robot(client, payload).status_code == 200
    pump(runtime, channel, NOW)
    assert _count(runtime, InboundItem) == 1 and _count(runtime, OutboxItem) == 1


def test_forged_stale_and_garbage_requests_are_refused(client, runtime):
    payload = robot_payload("关联 华为", "x1")
    body = client.application.json.dumps(payload).encode()
    forged = signed_headers(NOW, secret="not-the-app-secret")
    assert client.post("/dingtalk/robot", data=body, headers=forged).status_code == 403
    stale = signed_headers(NOW - timedelta(hours=2))
    assert client.post("/dingtalk/robot", data=body, headers=stale).status_code == 403
    assert client.post("/dingtalk/robot", data=body).status_code == 403  # no signature at all
    assert post_robot(client, b"{not json").status_code == 400
    assert post_robot(client, b"[1, 2]").status_code == 400
    assert post_robot(client, {"msgtype": "text", "text": {"content": "hi"}}).status_code == 400  # no msgId
    assert post_robot(client, {**payload, "conversationType": "9"}).status_code == 400
    assert _count(runtime, InboundItem) == 0
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {"status": "ok"}


def test_sign_is_checked_against_the_clock_of_the_service(client, runtime, clock):
    clock.advance(minutes=30)
    payload = robot_payload("帮助", "late-1")
    assert post_robot(client, payload, at=NOW).status_code == 200  # 30 minutes old: fine
    clock.advance(minutes=31)
    assert post_robot(client, {**payload, "msgId": "late-2"}, at=NOW).status_code == 403


def test_webhook_expiry_and_sender_come_from_the_message(client, runtime):
    hook = "https://oapi.dingtalk.com/robot/sendBySession?session=abc"
    post_robot(client, robot_payload("帮助", "w1", webhook=hook))
    with runtime.factory() as s:
        item = s.scalars(select(InboundItem)).one()
    assert item.payload["reply_ref"] == hook  # opaque to handlers: the DingTalk channel reads it
    assert item.payload["reply_ref_expires"] == (NOW + timedelta(minutes=90)).isoformat()
    assert item.payload["sender"] == "ding_zhangsan" and item.payload["source"] == "robot"
    assert item.payload["time"] == NOW.isoformat() and ms(NOW) > 0
