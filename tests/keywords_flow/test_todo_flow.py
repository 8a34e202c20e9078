"""A customer's request becomes a to-do for the owner, due later; 待办 / 完成 / 认领 with rights."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Customer, Message, Todo
from tests.conftest import NOW


def _todos(flow):
    with flow.runtime.factory() as s:
        return s.scalars(select(Todo).order_by(Todo.id)).all()


def test_a_request_becomes_a_todo_for_the_owner_due_after_the_rules_hours(flow):
    out = flow.customer_says("样品什么时候能寄过来？")
    (todo,) = _todos(flow)
    with flow.runtime.factory() as s:
        huawei = s.scalars(select(Customer).where(Customer.name == "华为")).one()
        words = s.get(Message, todo.source_message_id)
    assert (todo.owner_id, todo.customer_id, todo.title, todo.status) == ("zhangsan", huawei.id, "样品需求", "open")
    assert todo.due_at == NOW + timedelta(hours=48) and todo.next_check_at == todo.due_at
    assert todo.escalation_level == 0 and todo.role is None
    assert todo.detail == "样品什么时候能寄过来？" and todo.source_rule == "sample"
    assert words.text == todo.detail and words.from_customer
    (card,) = out.to("zhangsan")
    assert out.recipients == {"zhangsan"}  # default todo recipients: the owner only
    assert card.title == "新待办 T1：样品需求"
    assert "「【样品】什么时候能寄过来？」" in card.text()
    assert "截止：11-04 17:00（48 小时内）" in card.text()  # China time
    assert [(b.label, b.command) for b in card.buttons] == [("完成", "完成 T1")]


def test_configured_recipients_get_a_copy_without_the_button(flow):
    out = flow.customer_says("付款方式可以分期吗")
    (todo,) = _todos(flow)
    assert todo.owner_id == "zhangsan" and todo.due_at == NOW + timedelta(hours=24)
    (mine,) = out.to("zhangsan")
    (copy,) = out.to("zhaoliu")  # notify = owner, role:finance
    assert mine.buttons and not copy.buttons
    assert copy.title == "待办抄送 T1：账期咨询" and "负责人：张三" in copy.text()


def test_a_repeated_request_joins_the_open_todo(flow):
    flow.customer_says("样品什么时候到？")
    flow.later(hours=2)
    out = flow.customer_says("样品寄了吗")
    assert out.items == []
    (todo,) = _todos(flow)
    assert todo.detail == "样品什么时候到？\n样品寄了吗"
    flow.send("完成 T1")
    out = flow.customer_says("再寄两台样机")  # the earlier one is done: a new to-do
    assert [t.status for t in _todos(flow)] == ["done", "open"]
    assert out.to("zhangsan")[0].title == "新待办 T2：样品需求"


def test_declined_requests_raise_nothing(flow):
    assert flow.customer_says("样品不用寄了").items == []
    assert flow.customer_says("本月结算已经完成").items == []
    assert _todos(flow) == []


def test_todo_list_marks_overdue_items(flow):
    flow.customer_says("付款方式可以分期吗")  # due in 24 h
    flow.customer_says("样品什么时候到？")  # due in 48 h
    flow.later(hours=30)
    card = flow.send("待办").to("zhangsan")[0]
    assert card.title == "我的待办（2 项，1 项已逾期）"
    assert card.lines == (
        "· T1 账期咨询 · 华为 · 截止 11-03 17:00（已逾期）",
        "· T2 样品需求 · 华为 · 截止 11-04 17:00",
    )
    assert flow.send("待办", "lisi").to("lisi")[0].lines == ("你没有未完成的待办。",)


def test_only_the_owner_or_their_managers_may_complete(flow):
    flow.customer_says("样品什么时候到？")
    flow.customer_says("账期能不能放宽")
    refused = flow.send("完成 T1", "zhaoliu").to("zhaoliu")[0]
    assert refused.title == "无法完成" and "只有负责人或其上级" in refused.text()
    assert _todos(flow)[0].status == "open"
    done = flow.send("完成 T1", "lisi")  # zhangsan's manager
    assert done.to("lisi")[0].title == "待办已完成"
    assert done.to("zhangsan")[0].title == "你的待办已被完成"
    t1 = _todos(flow)[0]
    assert (t1.status, t1.done_by, t1.done_at, t1.next_check_at) == ("done", "lisi", flow.now, None)
    assert flow.send("完成t2").to("zhangsan")[0].title == "待办已完成"  # the owner, glued, lower case
    assert flow.send("完成 T2").to("zhangsan")[0].title == "无法完成"  # already done
    assert flow.send("完成 T9").to("zhangsan")[0].title == "没有找到"
    assert flow.send("完成").to("zhangsan")[0].title == "命令格式不对"


def test_public_pool_customer_todo_is_claimable_by_reps(flow):
    with flow.runtime.factory.begin() as s:
        huawei = s.scalars(select(Customer).where(Customer.name == "华为")).one()
        huawei.owner_id, huawei.status = None, "public"
    out = flow.customer_says("麻烦发一份样品")
    (todo,) = _todos(flow)
    assert (todo.owner_id, todo.role) == (None, "rep")
    (card,) = out.to("zhangsan")
    assert [b.command for b in card.buttons] == ["认领 T1"]
    assert "可认领：" in flow.send("待办").to("zhangsan")[0].lines
    assert flow.send("完成 T1").to("zhangsan")[0].title == "无法完成"  # claim first
    assert flow.send("认领 T1", "zhaoliu").to("zhaoliu")[0].title == "无法认领"  # finance is not a rep
    flow.later(hours=1)
    claimed = flow.send("认领 T1").to("zhangsan")[0]
    assert claimed.title == "认领成功" and [b.command for b in claimed.buttons] == ["完成 T1"]
    (todo,) = _todos(flow)
    assert (todo.owner_id, todo.claimed_at, todo.next_check_at) == ("zhangsan", flow.now, todo.due_at)
    assert flow.send("认领 T1").to("zhangsan")[0].title == "无法认领"  # already mine


def test_a_note_without_customer_gives_the_rep_a_todo(flow):
    out = flow.send("提醒自己：给客户寄样品", "lisi")  # lisi has no current customer
    (todo,) = _todos(flow)
    assert (todo.owner_id, todo.customer_id) == ("lisi", None)
    assert out.recipients == {"lisi"}
    assert any(c.title == "新待办 T1：样品需求" for c in out.to("lisi"))
