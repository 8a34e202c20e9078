"""Customer-contact events over HTTP: customers created and linked, ownership following the contact,
a risk card when the customer deletes the rep, and every change audited."""

from __future__ import annotations

from sqlalchemy import select

from storage import audit
from storage import customers as repo
from storage.models import Conversation, Customer, InboundItem, RiskEvent
from tests.fakes.wecom import message_text
from tests.wecom.conftest import run_jobs

HUAWEI = "wmHUAWEI000000000000000000000001"


def huawei_contact(rep: str = "zhangsan") -> dict:
    return {
        "external_contact": {"external_userid": HUAWEI, "name": "李明", "type": 2, "corp_name": "华为",
                             "corp_full_name": "华为技术有限公司"},
        "follow_user": [{"userid": rep, "remark": "李总", "remark_corp_name": "", "add_way": 1, "state": ""}],
    }


def change(sender, change_type: str, rep: str = "zhangsan", external: str = HUAWEI, **extra: str):
    resp = sender.event("change_external_contact", ChangeType=change_type, UserID=rep, ExternalUserID=external,
                        **extra)
    assert resp.status_code == 200
    return resp


def customers(runtime) -> list[Customer]:
    with runtime.factory() as s:
        return list(s.scalars(select(Customer).order_by(Customer.id)))


def history(runtime, customer_id: int) -> list[tuple[str, str | None, str | None]]:
    with runtime.factory() as s:
        return [(e.field, e.before, e.after) for e in audit.history(s, "customer", customer_id)]


def test_added_contact_creates_the_customer_owned_by_the_rep(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    for _ in range(2):  # WeCom's retry of the same event changes nothing
        change(sender, "add_external_contact", WelcomeCode="welcome-1")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.name == "华为技术有限公司" and customer.owner_id == "zhangsan"
    # the name came from externalcontact/get, called by the job with the customer-contact secret
    [lookup] = fake_wecom.calls("externalcontact/get")
    assert lookup.query["external_userid"] == HUAWEI
    assert "fake-contact-secret" in [r.query.get("corpsecret") for r in fake_wecom.calls("gettoken")]
    with runtime.factory() as s:
        assert repo.by_identity(s, "wecom", HUAWEI).id == customer.id
        conv = s.scalars(select(Conversation)).one()
        assert (conv.conversation_id, conv.customer_id) == (HUAWEI, customer.id)
    assert ("created", None, "华为技术有限公司") in history(runtime, customer.id)
    assert ("owner_id", None, "zhangsan") in history(runtime, customer.id)
    assert ("identity", None, f"wecom:{HUAWEI}") in history(runtime, customer.id)
    [card] = fake_wecom.sent()
    assert card["touser"] == "zhangsan" and "新客户已建档" in message_text(card)


def test_the_reps_own_note_of_the_company_wins_also_past_the_first_page(sender, runtime, channels, fake_wecom,
                                                                        clock):
    first, second = huawei_contact("lisi"), huawei_contact()
    second["follow_user"][0]["remark_corp_name"] = "华为终端有限公司"
    fake_wecom.contacts[HUAWEI] = [first, second]
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    assert [c.name for c in customers(runtime)] == ["华为终端有限公司"]
    assert [r.query.get("cursor") for r in fake_wecom.calls("externalcontact/get")] == [None, "1"]


def test_added_contact_links_to_the_customer_the_rep_already_named(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    sender.text("zhangsan", "关联 华为技术有限公司", "9001")
    run_jobs(runtime, channels, clock())
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    with runtime.factory() as s:
        assert repo.by_identity(s, "wecom", HUAWEI).id == customer.id


def test_customer_deleting_the_rep_raises_a_risk_card_to_the_manager(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    clock.advance(days=3)
    change(sender, "del_follow_user")
    run_jobs(runtime, channels, clock())
    [risk] = [b for b in fake_wecom.sent() if b["touser"] == "lisi"]
    text = message_text(risk)
    assert "客户删除了张三" in text and "华为技术有限公司" in text
    customer = customers(runtime)[0]
    assert ("contact_deleted_by_customer", None, "zhangsan") in history(runtime, customer.id)
    with runtime.factory() as s:  # on the customer's record as a risk, named on the card
        [event] = s.scalars(select(RiskEvent).where(RiskEvent.customer_id == customer.id)).all()
    assert (event.rule, event.severity, event.status) == ("contact_deleted", "high", "open")
    assert event.code in text
    # the manager asks for the response pack
    sender.text("lisi", f"应对 {event.code}", "8801")
    run_jobs(runtime, channels, clock())
    pack = message_text([b for b in fake_wecom.sent() if b["touser"] == "lisi"][-1])
    assert "情况：客户把 张三 从联系人中删除了" in pack and "建议应对：尽快通过电话" in pack


def test_rep_deleting_the_customer_releases_ownership(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    clock.advance(hours=1)
    change(sender, "del_external_contact")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.owner_id is None and customer.status == "public"
    assert ("owner_id", "zhangsan", None) in history(runtime, customer.id)
    assert ("status", "active", "public") in history(runtime, customer.id)


def test_transfer_moves_ownership_to_the_new_rep(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    clock.advance(hours=1)
    # 在职继承: the new rep gets the contact first, then it leaves the old rep "by transfer"
    change(sender, "add_external_contact", rep="sunqi")
    change(sender, "del_external_contact", Source="DELETE_BY_TRANSFER")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.owner_id == "sunqi" and customer.status == "active"
    assert ("owner_id", "zhangsan", "sunqi") in history(runtime, customer.id)


def test_transfer_in_the_other_order_also_lands_with_the_new_rep(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    clock.advance(hours=1)
    change(sender, "del_external_contact", Source="DELETE_BY_TRANSFER")
    run_jobs(runtime, channels, clock())
    change(sender, "add_external_contact", rep="sunqi")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.owner_id == "sunqi" and customer.status == "active"


def test_failed_transfer_tells_the_manager(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    change(sender, "transfer_fail", FailReason="customer_refused")
    run_jobs(runtime, channels, clock())
    [card] = [b for b in fake_wecom.sent() if b["touser"] == "lisi"]
    assert "客户拒绝了接替" in message_text(card)
    [customer] = customers(runtime)
    assert customer.owner_id == "zhangsan"


def test_unreachable_directory_is_retried_then_a_placeholder_is_used(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    fake_wecom.go_down("503")
    run_jobs(runtime, channels, clock())
    assert customers(runtime) == []  # not handled yet: the event waits for a retry
    with runtime.factory() as s:
        item = s.scalars(select(InboundItem)).one()
        assert item.status == "pending" and "ContactDirectoryUnavailable" in (item.error or "")
    for _ in range(20):
        clock.advance(minutes=2)
        run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.name.startswith("未命名客户") and customer.owner_id == "zhangsan"


def test_directory_back_in_time_gives_the_real_name(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    fake_wecom.go_down("503")
    run_jobs(runtime, channels, clock())
    fake_wecom.come_back()
    clock.advance(minutes=2)
    run_jobs(runtime, channels, clock())
    assert [c.name for c in customers(runtime)] == ["华为技术有限公司"]


def test_other_changes_are_acknowledged_without_action(sender, runtime, channels, clock):
    change(sender, "edit_external_contact")
    sender.event("change_external_contact", ChangeType="add_external_contact")  # no ids at all
    run_jobs(runtime, channels, clock())
    assert customers(runtime) == []
    with runtime.factory() as s:  # acknowledged at the edge: nothing stored, nothing to retry
        assert list(s.scalars(select(InboundItem))) == []


def test_contact_added_by_someone_outside_the_directory_goes_to_the_public_pool(sender, runtime, channels,
                                                                                  fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact("outsider")
    change(sender, "add_external_contact", rep="outsider")
    run_jobs(runtime, channels, clock())
    [customer] = customers(runtime)
    assert customer.owner_id is None and customer.status == "public"
    assert fake_wecom.sent() == []
