"""`salesbot org sync` from DingTalk: departments walked, members paged, manager_userid from user/get."""

from __future__ import annotations

import pytest

from bot.cli import main
from handlers import org_sync
from storage import directory
from storage.models import User


@pytest.fixture(autouse=True)
def _forget_sources():
    yield
    org_sync.register_org_directory("dingtalk", None)


def test_org_sync_from_dingtalk(runtime, channel, fake_dingtalk, capsys):
    fake_dingtalk.departments = {2: 1}
    fake_dingtalk.users = [
        {"userid": "ding_lisi", "name": "李四", "dept_id": 1, "manager": "ding_wangwu"},
        {"userid": "ding_wangwu", "name": "王五", "dept_id": 1},
        {"userid": "ding_zhaoliu", "name": "赵六", "dept_id": 1, "manager": "ding_wangwu"},
        {"userid": "ding_zhangsan", "name": "张三", "dept_id": 2, "manager": "ding_lisi"},
    ] + [{"userid": f"ding_new{i}", "name": f"新人{i}", "dept_id": 2, "manager": "ding_lisi"} for i in range(120)]
    assert main(["org", "sync", "--config", runtime.settings.source]) == 0
    assert "dingtalk: 124 members" in capsys.readouterr().out
    with runtime.factory() as s:
        new = s.get(User, "ding_new119")  # on the second page of department 2
        assert (new.name, new.manager_id, directory.platform_id(s, new.id, "dingtalk"), new.role) == ("新人119", "lisi", "ding_new119", "rep")
        assert s.get(User, "zhaoliu").role == "finance"  # [[users]] keeps the role
    assert [c.json["cursor"] for c in fake_dingtalk.calls("/topapi/v2/user/list") if c.json["dept_id"] == 2] == [0, 100]
    assert len(fake_dingtalk.calls("/topapi/v2/user/get")) == 124
