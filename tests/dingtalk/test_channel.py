"""Cards out: one-tap markdown, sessionWebhook replies, one-to-one pushes, work-notification fallback,
shared tokens and the errors the outbox retries."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bot.dingtalk import DingTalkChannel, render_markdown
from handlers.context import Context
from handlers.model import Address, Button, Card
from handlers.outbox import post
from scheduler.delivery import DeliveryError
from storage.db import transaction
from storage.models import OutboxItem, PlatformToken
from tests.conftest import NOW
from tests.dingtalk.conftest import AGENT_ID, APP_KEY, APP_SECRET, pump
from tests.fakes.dingtalk import FakeDingTalkServer

BATCH = "/v1.0/robot/oToMessages/batchSend"
NOTICE = "/topapi/message/corpconversation/asyncsend_v2"
APPROVAL = Card(title="报价审批", lines=("客户：华为技术有限公司", "金额：120,000 元"),
                buttons=(Button("同意", "同意 A1"), Button("拒绝", "拒绝 A1 <原因>", style="danger")))
TAP = re.compile(r"\[([^\]]+)\]\((dtmd://dingtalkclient/sendMessage\?[^)]+)\)")


def tapped_commands(markdown: str) -> dict[str, str]:
    """label -> the text the DingTalk client sends when the link is tapped."""
    return {label: parse_qs(urlsplit(link).query)["content"][0] for label, link in TAP.findall(markdown)}


def test_buttons_become_one_tap_links_carrying_the_exact_command():
    text = render_markdown(APPROVAL)
    assert tapped_commands(text) == {"同意": "同意 A1", "拒绝": "拒绝 A1 <原因>"}
    assert "content=%E5%90%8C%E6%84%8F%20A1)" in text  # url-encoded: spaces and brackets survive the link
    assert text.startswith("#### 报价审批") and "金额：120,000 元" in text


def test_identical_cards_to_one_person_never_read_the_same(runtime, channel, fake_dingtalk):
    reminder = Card(title="待办提醒", lines=("T3 给华为发报价，已超时",), recipients=("zhangsan",))
    with transaction(runtime.factory) as session:
        post(Context(session, runtime.settings, NOW), [reminder, reminder])
    assert len(pump(runtime, channel, NOW).sent) == 2
    first, second = (c.markdown["text"] for c in fake_dingtalk.calls(BATCH))
    assert first != second
    # China time, and the row's number: every retry of one row reads the same, two rows never do
    assert "11-02 17:00:00 · 编号 1" in first and "11-02 17:00:00 · 编号 2" in second


def test_a_retry_of_one_row_reads_exactly_as_its_first_try(runtime, channel, fake_dingtalk):
    with transaction(runtime.factory) as session:
        post(Context(session, runtime.settings, NOW), [Card(title="待办提醒", recipients=("zhangsan",))])
    address = Address("dingtalk", "ding_zhangsan", send_id=1, queued_at=NOW)
    channel.send(Card(title="待办提醒"), address, NOW)
    channel.send(Card(title="待办提醒"), address, NOW + timedelta(minutes=7))
    first, second = (c.json["msgParam"] for c in fake_dingtalk.calls(BATCH))
    assert first == second


def test_reply_uses_the_session_webhook_while_it_is_valid(channel, fake_dingtalk):
    hook = fake_dingtalk.session_webhook("s1")
    address = Address("dingtalk", "ding_zhangsan", hook, NOW + timedelta(minutes=30))
    assert channel.send(Card(title="已记录"), address, NOW) is None
    assert [c.query["session"] for c in fake_dingtalk.calls("/robot/sendBySession")] == ["s1"]
    assert fake_dingtalk.calls(BATCH) == []


@pytest.mark.parametrize("host", ["another port", "another name"])
def test_a_session_webhook_on_a_foreign_host_is_never_called(channel, fake_dingtalk, host):
    # The "foreign" host is a second fake on 127.0.0.1 (another port), or the same fake under another
    # name (localhost): both answer like DingTalk and record every hit, so a channel that POSTed there
    # would be caught, and no request can leave the machine.
    with FakeDingTalkServer(app_key=APP_KEY, app_secret=APP_SECRET) as foreign_fake:
        if host == "another port":
            hook, hits = foreign_fake.session_webhook("stolen"), foreign_fake
        else:
            hook, hits = fake_dingtalk.session_webhook("stolen").replace("127.0.0.1", "localhost"), fake_dingtalk
        assert urlsplit(hook).netloc != urlsplit(fake_dingtalk.url).netloc
        foreign = Address("dingtalk", "ding_zhangsan", hook, NOW + timedelta(hours=1))
        assert channel.send(Card(title="已记录"), foreign, NOW).startswith("pqk-")
        assert hits.calls("/robot/sendBySession") == []
        assert foreign_fake.calls("/robot/sendBySession") == [] and foreign_fake.calls(BATCH) == []
    assert [c.json["userIds"] for c in fake_dingtalk.calls(BATCH)] == [["ding_zhangsan"]]


def test_expired_or_closed_session_goes_one_to_one(channel, fake_dingtalk):
    expired = Address("dingtalk", "ding_zhangsan", fake_dingtalk.session_webhook("old"), NOW - timedelta(seconds=1))
    assert channel.send(Card(title="已记录"), expired, NOW).startswith("pqk-")
    fake_dingtalk.closed_sessions.add("closed")
    closed = Address("dingtalk", "ding_zhangsan", fake_dingtalk.session_webhook("closed"), NOW + timedelta(hours=1))
    assert channel.send(Card(title="已记录"), closed, NOW).startswith("pqk-")
    assert [c.json["userIds"] for c in fake_dingtalk.calls(BATCH)] == [["ding_zhangsan"], ["ding_zhangsan"]]
    assert len(fake_dingtalk.calls("/robot/sendBySession")) == 1  # only the closed one was tried


@pytest.mark.parametrize("why", ["invalid", "flow_controlled", "not_existed"])
def test_robot_cannot_reach_so_a_work_notification_goes(channel, fake_dingtalk, why):
    if why == "invalid":
        fake_dingtalk.invalid_staff_ids.add("ding_lisi")
    elif why == "flow_controlled":
        fake_dingtalk.flow_controlled_staff_ids.add("ding_lisi")
    else:
        fake_dingtalk.fail(BATCH, 400, {"code": "staffId.notExisted", "message": "staffId不存在"})
    ref = channel.send(APPROVAL, Address("dingtalk", "ding_lisi"), NOW)
    assert ref is not None and ref.startswith("notice:")
    [notice] = fake_dingtalk.calls(NOTICE)
    assert notice.query["access_token"].startswith("oapi-token")
    body = notice.json
    assert body["agent_id"] == AGENT_ID and body["userid_list"] == "ding_lisi"
    assert body["msg"]["msgtype"] == "markdown"
    text = body["msg"]["markdown"]["text"]
    assert "dtmd://" not in text  # a work notification cannot send to the robot
    assert "回复：「同意 A1」 / 「拒绝 A1 <原因>」" in text


def test_work_notification_of_a_card_with_a_link_is_an_action_card(channel, fake_dingtalk):
    fake_dingtalk.invalid_staff_ids.add("ding_lisi")
    card = dataclasses.replace(APPROVAL, link="https://crm.example.com/approvals/A1")
    channel.send(card, Address("dingtalk", "ding_lisi"), NOW)
    msg = fake_dingtalk.calls(NOTICE)[0].json["msg"]
    assert msg["msgtype"] == "action_card"
    assert msg["action_card"]["single_url"] == "https://crm.example.com/approvals/A1"
    assert "报价审批" in msg["action_card"]["markdown"]


def test_tokens_are_cached_in_the_database_and_shared_between_workers(runtime, fake_dingtalk):
    fake_dingtalk.invalid_staff_ids.add("ding_lisi")
    workers = [DingTalkChannel(runtime.settings, runtime.factory) for _ in range(2)]
    try:
        for worker in workers:
            worker.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW)
            worker.send(Card(title="提醒"), Address("dingtalk", "ding_lisi"), NOW)
    finally:
        for worker in workers:
            worker.client.close()
    assert len(fake_dingtalk.calls("/v1.0/oauth2/accessToken")) == 1
    assert len(fake_dingtalk.calls("/gettoken")) == 1
    assert len(fake_dingtalk.calls(BATCH)) == 4 and len(fake_dingtalk.calls(NOTICE)) == 2
    with runtime.factory() as s:
        names = sorted(t.name for t in s.scalars(select(PlatformToken)))
    assert names == [f"dingtalk:oapi:{APP_KEY}", f"dingtalk:openapi:{APP_KEY}"]


def test_token_is_fetched_again_when_it_expires(channel, fake_dingtalk):
    channel.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW)
    channel.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW + timedelta(minutes=90))
    assert len(fake_dingtalk.calls("/v1.0/oauth2/accessToken")) == 1
    channel.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW + timedelta(hours=2))
    assert len(fake_dingtalk.calls("/v1.0/oauth2/accessToken")) == 2


def test_revoked_tokens_are_fetched_again_once(channel, fake_dingtalk):
    fake_dingtalk.invalid_staff_ids.add("ding_lisi")
    channel.send(Card(title="提醒"), Address("dingtalk", "ding_lisi"), NOW)
    fake_dingtalk.revoke_tokens()
    assert channel.send(Card(title="提醒"), Address("dingtalk", "ding_lisi"), NOW).startswith("notice:")
    assert len(fake_dingtalk.calls("/v1.0/oauth2/accessToken")) == 2
    assert len(fake_dingtalk.calls("/gettoken")) == 2
    assert [c.json is not None for c in fake_dingtalk.calls(BATCH)] == [True] * 3  # one refused, then ok


def test_a_token_refused_again_after_refetch_is_left_to_the_outbox(channel, fake_dingtalk):
    fake_dingtalk.fail(BATCH, 401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}, times=5)
    with pytest.raises(DeliveryError) as err:
        channel.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW)
    assert err.value.retryable
    assert len(fake_dingtalk.calls(BATCH)) == 2  # one refetch, not a loop


@pytest.mark.parametrize(
    ("status", "body", "headers", "retryable", "retry_after"),
    [
        (503, {"code": "ServiceUnavailable"}, {}, True, None),
        (500, "not json", {}, True, None),
        (429, {"code": "Throttling"}, {"Retry-After": "7"}, True, 7.0),
        (403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "限流"}, {}, True, 60.0),
        (400, {"code": "invalidParameter", "message": "msgParam 不合法"}, {}, False, None),
    ],
)
def test_openapi_errors_map_to_outbox_retries(channel, fake_dingtalk, status, body, headers, retryable,
                                              retry_after):
    fake_dingtalk.fail(BATCH, status, body, headers=headers)
    with pytest.raises(DeliveryError) as err:
        channel.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW)
    assert (err.value.retryable, err.value.retry_after) == (retryable, retry_after)


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (200, {"errcode": -1, "errmsg": "系统繁忙"}, True),
        (200, {"errcode": 90018, "errmsg": "QPS超限"}, True),
        (200, {"errcode": 33012, "errmsg": "无效的USERID"}, False),
        (502, {}, True),
    ],
)
def test_work_notification_errors_map_to_outbox_retries(channel, fake_dingtalk, status, body, retryable):
    fake_dingtalk.invalid_staff_ids.add("ding_lisi")
    fake_dingtalk.fail(NOTICE, status, body)
    with pytest.raises(DeliveryError) as err:
        channel.send(Card(title="提醒"), Address("dingtalk", "ding_lisi"), NOW)
    assert err.value.retryable is retryable


def test_a_hung_dingtalk_times_out_and_is_retried_later(runtime, fake_dingtalk):
    quick = dataclasses.replace(runtime.settings, dingtalk=dataclasses.replace(runtime.settings.dingtalk,
                                                                               timeout_seconds=0.2))
    ch = DingTalkChannel(quick, runtime.factory)
    release = fake_dingtalk.hold(BATCH)
    try:
        with pytest.raises(DeliveryError) as err:
            ch.send(Card(title="提醒"), Address("dingtalk", "ding_zhangsan"), NOW)
    finally:
        release.set()
        ch.client.close()
    assert err.value.retryable and "timed out" in err.value.reason


def test_the_outbox_retries_a_failed_push_until_it_goes(runtime, channel, fake_dingtalk):
    fake_dingtalk.fail(BATCH, 503)
    with transaction(runtime.factory) as session:
        post(Context(session, runtime.settings, NOW), [Card(title="提醒", recipients=("wangwu",))])
    assert len(pump(runtime, channel, NOW).retried) == 1
    assert len(pump(runtime, channel, NOW + timedelta(hours=1)).sent) == 1
    with runtime.factory() as s:
        row = s.scalars(select(OutboxItem)).one()
    assert (row.status, row.attempts, row.target) == ("sent", 2, "ding_wangwu")
    assert row.platform_ref.startswith("pqk-")
