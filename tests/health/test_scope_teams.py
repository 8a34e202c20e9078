"""`teams` reads the directory once for a page listing many teams: the same sets as `team_ids`, at any
depth, and it ends where the org chart loops."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.runtime import Runtime
from handlers.health.scope import team_ids, teams
from storage import directory
from storage.db import transaction


def test_teams_are_the_team_ids_of_every_manager(runtime: Runtime, session: Session) -> None:
    below = teams(session)
    bosses = {u.manager_id for u in directory.all_users(session) if u.manager_id}
    assert set(below) == bosses and bosses
    for manager in bosses:
        assert below[manager] == team_ids(session, manager), manager
    assert {"zhangsan", "xiaoming", "lisi"} <= below["wangwu"]  # two levels down
    assert "zhangsan" not in below  # a rep has nobody below


def test_a_loop_in_the_org_chart_ends(runtime: Runtime) -> None:
    with transaction(runtime.factory) as s:
        boss = directory.get_user(s, "wangwu")
        assert boss is not None
        boss.manager_id = "zhangsan"  # 王五 -> 张三 -> 李四 -> 王五
    with runtime.factory() as s:
        below = teams(s)
        assert below["wangwu"] == team_ids(s, "wangwu")
