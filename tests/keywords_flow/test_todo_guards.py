"""Who may complete (完成) or claim (认领) a to-do, each refusal sent by the person who must not get
through: a peer, someone below the owner, a second claimer, a claim of a closed to-do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import audit
from storage import todos as repo
from storage.db import transaction
from storage.models import Customer, Todo
from tests.conftest import NOW


def _todo(flow, todo_id: int = 1) -> Todo:
    with flow.runtime.factory() as s:
        found = s.get(Todo, todo_id)
        assert found is not None
        return found


def _to_public_pool(flow) -> None:
    with flow.runtime.factory.begin() as s:
        huawei = s.scalars(select(Customer).where(Customer.name == "华为")).one()
        huawei.owner_id, huawei.status = None, "public"


def test_neither_a_peer_nor_a_director_of_another_branch_nor_a_report_may_complete(flow):
    flow.customer_says("样品什么时候到？")  # T1, zhangsan's (manager lisi, then wangwu)
    for outsider in ("zhaoliu", "sunqi"):  # finance under wangwu; an admin outside the chain
        refused = flow.send("完成 T1", outsider).to(outsider)
        assert [c.title for c in refused] == ["无法完成"]
        assert "不是你的待办，只有负责人或其上级可以标记完成" in refused[0].text()
    todo = _todo(flow)
    assert (todo.status, todo.done_by, todo.done_at) == ("open", None, None)
    assert todo.next_check_at is not None  # still watched
    done = flow.send("完成 T1", "wangwu")  # two levels up
    assert done.to("wangwu")[0].title == "待办已完成"
    assert [c.title for c in done.to("zhangsan")] == ["你的待办已被完成"]
    assert _todo(flow).done_by == "wangwu"


def test_the_owner_completing_their_own_todo_is_not_told_twice(flow):
    flow.customer_says("样品什么时候到？")
    done = flow.send("完成 T1")
    assert [c.title for c in done.to("zhangsan")] == ["待办已完成"]
    again = flow.send("完成 T1", "lisi").to("lisi")[0]
    assert (again.title, again.lines) == ("无法完成", ("T1 已经是完成状态。",))
    assert _todo(flow).done_by == "zhangsan"


def test_an_unclaimed_todo_cannot_be_completed_by_anyone(flow):
    _to_public_pool(flow)
    flow.customer_says("麻烦发一份样品")
    for who in ("zhangsan", "lisi", "wangwu"):
        refused = flow.send("完成 T1", who).to(who)[0]
        assert refused.title == "无法完成" and "还没有人认领" in refused.text()
    assert _todo(flow).status == "open"


def test_a_claimed_todo_cannot_be_claimed_again_by_another_rep(flow, runtime):
    _to_public_pool(flow)
    flow.customer_says("麻烦发一份样品")
    assert flow.send("认领 T1").to("zhangsan")[0].title == "认领成功"
    with transaction(runtime.factory) as s:
        stale = s.get(Todo, 1)
        assert stale is not None
        assert repo.claim(s, stale, "lisi", NOW) is False  # a racing worker's claim: the UPDATE's WHERE refuses
    refused = flow.send("认领 T1", "lisi").to("lisi")[0]
    assert refused.title == "无法认领" and "已由张三负责" in refused.text()
    assert (_todo(flow).owner_id, _todo(flow).claimed_at) == ("zhangsan", flow.now)


def test_a_closed_todo_cannot_be_claimed(flow):
    _to_public_pool(flow)
    flow.customer_says("麻烦发一份样品")
    with transaction(flow.runtime.factory) as s:
        s.get(Todo, 1).status = "done"
    refused = flow.send("认领 T1").to("zhangsan")[0]
    assert (refused.title, refused.lines) == ("无法认领", ("T1 已经关闭。",))
    assert _todo(flow).owner_id is None
    completed = flow.send("完成 T1").to("zhangsan")[0]
    assert (completed.title, completed.lines) == ("无法完成", ("T1 已经是完成状态。",))


def test_a_claim_takes_only_that_todo_and_restarts_its_escalation(runtime):
    with transaction(runtime.factory) as s:
        first = repo.add(s, title="寄样品", at=NOW, actor="test", role="rep", due_at=NOW + timedelta(hours=48))
        second = repo.add(s, title="报价", at=NOW, actor="test", role="rep")
        first.escalation_level = 1  # it was already chased as unclaimed
        ids = (first.id, second.id)
    with transaction(runtime.factory) as s:
        todo = s.get(Todo, ids[0])
        assert todo is not None and repo.claim(s, todo, "zhangsan", NOW + timedelta(hours=1))
    with runtime.factory() as s:
        one, two = s.get(Todo, ids[0]), s.get(Todo, ids[1])
        assert one is not None and two is not None
        assert (one.owner_id, one.escalation_level, one.next_check_at) == ("zhangsan", 0, NOW + timedelta(hours=48))
        assert two.owner_id is None
        [entry] = [e for e in audit.history(s, "todo", ids[0]) if e.field == "owner_id"]
        assert (entry.actor, entry.before, entry.after, entry.note) == ("zhangsan", None, "zhangsan", "claimed")
