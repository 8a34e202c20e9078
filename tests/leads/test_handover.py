"""`交接 <离职人> <接手人>`: manager only; a rep who stays keeps their account and gets the on-the-job
transfer; everything of theirs moves, audited; platform failures are reported."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest

from handlers import handover
from storage import audit, customers, todos
from storage.db import transaction
from storage.models import Customer, Todo, User
from tests.approvals.conftest import Chat
from tests.conftest import NOW


class RecordingTransfer:
    """A CustomerTransfer that records the calls and refuses what it is told to."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.refuse: dict[str, int] = {}

    def transfer_customers(self, handover_id: str, takeover: str, external_ids: Sequence[str],
                           resigned: bool) -> dict[str, int]:
        self.calls.append(("customers", handover_id, takeover, list(external_ids), resigned))
        return {e: self.refuse.get(e, 0) for e in external_ids}

    def transfer_groupchats(self, chat_ids: Sequence[str], new_owner: str, resigned: bool) -> dict[str, int]:
        self.calls.append(("groupchats", list(chat_ids), new_owner, resigned))
        return {}

    def transfer_status(self, handover_id: str, takeover: str, resigned: bool) -> dict[str, int]:
        return {}


@pytest.fixture
def transfer() -> Iterator[RecordingTransfer]:
    recording = RecordingTransfer()
    handover.register_transfer("console", recording)
    yield recording
    handover.register_transfer("console", None)


def test_a_manager_hands_over_a_rep_who_stays(leads_chat: Chat, transfer: RecordingTransfer) -> None:
    with transaction(leads_chat.factory) as s:
        huawei = customers.create(s, "华为技术有限公司", "zhangsan", NOW - timedelta(days=2), "test")
        zte = customers.create(s, "中兴通讯", "zhangsan", NOW - timedelta(days=2), "test")
        customers.add_identity(s, huawei, "console", "wm-huawei")
        customers.add_identity(s, zte, "console", "wm-zte")
        todo = todos.add(s, title="回访华为", at=NOW, actor="test", owner_id="zhangsan", customer_id=huawei.id)
        ids = (huawei.id, zte.id, todo.id)
    refused = leads_chat.say("xiaoming", "交接 张三 小明")[-1].text()
    assert "只有 张三 的主管" in refused
    reply = leads_chat.say("lisi", "交接 张三 小明")[-1].text()
    assert "已把 张三 的工作交接给 小明" in reply
    with leads_chat.factory() as s:
        assert s.get(User, "zhangsan").active is True  # on the job: the account stays
        assert [s.get(Customer, i).owner_id for i in ids[:2]] == ["xiaoming", "xiaoming"]
        assert s.get(Todo, ids[2]).owner_id == "xiaoming"
        assert ("owner_id", "zhangsan", "xiaoming", "lisi") in [
            (e.field, e.before, e.after, e.actor) for e in audit.history(s, "customer", ids[0])]
    [card] = [t for t in leads_chat.texts_for("xiaoming") if "《客户交接清单》" in t]
    assert "华为技术有限公司" in card and "中兴通讯" in card and "回访华为" in card
    transfer.refuse["wm-zte"] = 40100
    lines = leads_chat.tick(NOW)
    assert transfer.calls == [("customers", "zhangsan", "xiaoming", ["wm-huawei", "wm-zte"], False)]
    assert "platform_transfers: console customer wm-zte: failed" in lines
    failed = [t for t in leads_chat.texts_for("xiaoming") if "客户转接失败" in t]
    assert len(failed) == 1 and "wm-zte" in failed[0] and "90 天内已被转接两次" in failed[0]
    assert any("客户转接失败" in t for t in leads_chat.texts_for("lisi"))
    assert leads_chat.tick(NOW + timedelta(minutes=1)) == []  # the queued ones went once


def test_the_successor_must_be_another_active_member(leads_chat: Chat) -> None:
    assert "另一位在职成员" in leads_chat.say("lisi", "交接 张三 张三")[-1].text()
    assert "找不到" in leads_chat.say("lisi", "交接 张三 不存在的人")[-1].text()
