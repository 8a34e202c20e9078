"""To-do codes as people type them: any case, leading zeros, up to nine digits; anything else gets
the Chinese hint instead of a wrong to-do or a crash."""

from __future__ import annotations

from storage.models import Todo


def _status(flow) -> str:
    with flow.runtime.factory() as s:
        todo = s.get(Todo, 1)
        assert todo is not None
        return todo.status


def test_a_lower_case_code_completes_the_todo(flow):
    flow.customer_says("样品什么时候到？")  # T1, zhangsan's
    done = flow.send("完成 t1").to("zhangsan")
    assert [c.title for c in done] == ["待办已完成"]
    assert done[0].lines[0].startswith("T1 ") and done[0].lines[0].endswith(" 已标记完成。")
    assert _status(flow) == "done"


def test_leading_zeros_name_the_same_todo(flow):
    flow.customer_says("样品什么时候到？")
    assert [c.title for c in flow.send("完成 T0000000001").to("zhangsan")] == ["待办已完成"]
    assert _status(flow) == "done"


def test_nine_digits_is_a_code_that_does_not_exist_ten_is_too_long(flow):
    flow.customer_says("样品什么时候到？")
    [missing] = flow.send("完成 T999999999").to("zhangsan")
    assert (missing.title, missing.lines) == ("没有找到", ("没有编号为 T999999999 的待办。",))
    [long] = flow.send("完成 T1234567890123456789012345").to("zhangsan")
    assert long.lines[0] == "编号「T1234567890123456789」太长，不是有效的编号。编号形如「完成 T12」。"  # 20 characters echoed
    assert _status(flow) == "open"


def test_a_missing_number_gets_the_usage_hint(flow):
    [hint] = flow.send("认领 T").to("zhangsan")
    assert "请写上编号，例如「认领 T12」。" in hint.text()


def test_ten_digits_are_too_long_for_a_code(flow):
    [long] = flow.send("完成 T1234567890").to("zhangsan")
    assert long.lines[0] == "编号「T1234567890」太长，不是有效的编号。编号形如「完成 T12」。"
