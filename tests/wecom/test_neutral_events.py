"""Events are decoded at the edge: the inbound table holds neutral events, handlers read no platform key,
and rows stored before that (raw WeCom / DingTalk events) are still handled after an upgrade."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import dingtalk
from handlers.event_model import (
    ArchiveReady,
    CardTapped,
    CustomerAdded,
    CustomerDeletedRep,
    CustomerRemovedByRep,
    CustomerTransferFailed,
    CustomerTransferred,
    MemberChanged,
    MemberLeft,
    event_from_dict,
)
from handlers.model import InboundEvent
from storage.db import transaction
from storage.models import Customer, InboundItem, OrgEvent
from storage.queues import store_inbound
from tests.conftest import NOW
from tests.wecom.conftest import run_jobs

ROOT = Path(__file__).parents[2]
HUAWEI = "wmHUAWEI000000000000000000000001"
PLATFORM_KEYS = ("ChangeType", "ExternalUserID", "UserID", "EventType", "EventKey", "ResponseCode", "FromUserName",
                 "msgtype", "MsgType", "sessionWebhook", "OptStaffId", "optStaffId", "roomid", "tolist", "msgtime",
                 "UserId", "userId", "FailReason", "DELETE_BY_TRANSFER", "msgaudit_notify", "change_external_contact",
                 "user_leave_org")


def test_no_handler_reads_a_platform_key():
    offenders = []
    for path in sorted((ROOT / "handlers").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: {key}" for key in PLATFORM_KEYS if re.search(rf"\b{key}\b", text)]
    assert offenders == []


BASE = dict(platform="wecom", dedupe_key="k1", time=NOW)


@pytest.mark.parametrize("event", [
    CustomerAdded(**BASE, rep="zhangsan", customer=HUAWEI, state="expo-qr", display_name="李明"),
    CustomerDeletedRep(**BASE, rep="zhangsan", customer=HUAWEI),
    CustomerRemovedByRep(**BASE, rep="zhangsan", customer=HUAWEI),
    CustomerTransferred(**BASE, from_rep="zhangsan", customer=HUAWEI, to_rep="lisi"),
    CustomerTransferFailed(**BASE, rep="lisi", customer=HUAWEI, reason="refused"),
    MemberLeft(**BASE, members=("a", "b"), actor="sunqi"),
    MemberChanged(**BASE, members=("a",)),
    CardTapped(**BASE, actor="lisi", command="同意 A1", update_ref="rc1"),
    ArchiveReady(**BASE),
])
def test_every_event_survives_the_inbound_table(event):
    assert event_from_dict(event.to_dict()) == event


def test_the_stored_payload_is_the_neutral_event(sender, runtime):
    sender.event("change_external_contact", ChangeType="add_external_contact", UserID="zhangsan",
                 ExternalUserID=HUAWEI, State="expo-qr")
    with runtime.factory() as s:
        item = s.scalars(select(InboundItem)).one()
    event = event_from_dict(item.payload)
    assert isinstance(event, CustomerAdded)
    assert (event.rep, event.customer, event.state) == ("zhangsan", HUAWEI, "expo-qr")


def _legacy_row(runtime, platform: str, kind: str, data: dict, key: str) -> None:
    raw = InboundEvent(platform=platform, kind=kind, dedupe_key=key, time=NOW, data=data)
    with transaction(runtime.factory) as s:
        store_inbound(s, platform, key, "event", raw.to_dict(), NOW)


def test_rows_stored_before_the_upgrade_are_still_handled(runtime, channels, fake_wecom, clock):
    # raw events as the edge stored them before revision 0002
    _legacy_row(runtime, "wecom", "change_external_contact",
                {"MsgType": "event", "Event": "change_external_contact", "ChangeType": "add_external_contact",
                 "UserID": "zhangsan", "ExternalUserID": HUAWEI, "FromUserName": "sys",
                 "CreateTime": str(int(NOW.timestamp()))}, "evt:legacy-1")
    _legacy_row(runtime, "dingtalk", "user_leave_org", {"EventType": "user_leave_org", "UserId": ["ding_zhangsan"]},
                "event:legacy-2")
    dingtalk.wire_services(runtime.settings, runtime.factory)  # the DingTalk edge is wired too
    run_jobs(runtime, channels, clock.advance(seconds=1))
    with runtime.factory() as s:
        assert [c.owner_id for c in s.scalars(select(Customer))] == ["lisi"]  # zhangsan left: handed over
        org = s.scalars(select(OrgEvent)).one()
        assert (org.kind, org.platform_user_ids) == ("member_left", "ding_zhangsan")
        assert {i.status for i in s.scalars(select(InboundItem))} == {"done"}
