"""A customer who adds a rep through a channel QR code (add_external_contact with State) is a lead of
that source, owned by that rep, with the first-contact clock running."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Customer, Lead
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
