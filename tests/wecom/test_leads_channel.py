"""A customer who adds a rep through a channel QR code (add_external_contact with State) is a lead of
that source, owned by that rep, with the first-contact clock running."""

from __future__ import annotations

from sqlalchemy import select

from storage import customers
from storage.db import transaction
from storage.models import Customer, Lead, User
from tests.fakes.wecom import message_text
from tests.wecom.conftest import run_jobs
from tests.wecom.test_contacts import HUAWEI, change, huawei_contact


def test_channel_state_makes_a_lead_of_that_source(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    for _ in range(2):  # a redelivered event makes no second lead
        change(sender, "add_external_contact", State="expo2026")
        run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        [lead] = s.scalars(select(Lead)).all()
        customer = s.scalars(select(Customer)).one()
    assert (lead.source, lead.status, lead.owner_id, lead.customer_id) == ("expo2026", "assigned", "zhangsan",
                                                                           customer.id)
    assert "渠道码「expo2026」" in lead.reason["why"]
    [card] = fake_wecom.sent()
    assert card["touser"] == "zhangsan" and "新线索 L1" in message_text(card)


def test_a_contact_without_state_is_no_lead(sender, runtime, channels, fake_wecom, clock):
    fake_wecom.contacts[HUAWEI] = huawei_contact()
    change(sender, "add_external_contact")
    run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        assert s.scalars(select(Lead)).all() == []


def test_a_deleted_member_is_handed_over(sender, runtime, channels, fake_wecom, clock):
    with transaction(runtime.factory) as s:
        customers.create(s, "华为技术有限公司", "zhangsan", clock(), "test")
    for _ in range(2):  # a redelivery hands over nothing twice
        resp = sender.event("change_contact", ChangeType="delete_user", UserID="zhangsan")
        assert resp.status_code == 200
        run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        assert s.get(User, "zhangsan").active is False
        assert s.scalars(select(Customer)).one().owner_id == "lisi"  # no teammate: the manager
    checklists = [c for c in fake_wecom.sent() if "客户交接清单" in message_text(c)]
    assert len(checklists) == 1 and checklists[0]["touser"] == "lisi"


def test_other_member_changes_hand_nothing_over(sender, runtime, channels, fake_wecom, clock):
    sender.event("change_contact", ChangeType="update_user", UserID="zhangsan")
    run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        assert s.get(User, "zhangsan").active is True
