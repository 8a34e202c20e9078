"""Two 完成 for the same to-do at once: one closes it, the other is told it is already done."""

from __future__ import annotations

from storage import audit, todos
from storage.db import transaction
from tests.conftest import NOW


def test_a_second_concurrent_close_changes_nothing(runtime):
    with transaction(runtime.factory) as s:
        todo_id = todos.add(s, title="寄样品", at=NOW, actor="test", owner_id="zhangsan").id
    first, second = runtime.factory(), runtime.factory()
    try:
        stale = second.get(todos.Todo, todo_id)  # loaded while still open, as a racing worker would
        second.commit()  # (SQLite: end the read so the other writer can go; the object stays loaded)
        assert todos.close(first, first.get(todos.Todo, todo_id), NOW, "zhangsan") is True
        first.commit()
        assert todos.close(second, stale, NOW, "lisi") is False
        second.commit()
    finally:
        first.close()
        second.close()
    with runtime.factory() as s:
        assert s.get(todos.Todo, todo_id).done_by == "zhangsan"
        assert [e.after for e in audit.history(s, "todo", todo_id) if e.field == "status"] == ["done"]
