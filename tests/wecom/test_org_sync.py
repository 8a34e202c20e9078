"""`salesbot org sync` from WeCom: new members created with their direct leader, [[users]] keep role
and prefer, a member who left (status 5) is made inactive and handed over."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.runtime import sync_directory
from handlers import org_sync
from storage import customers, directory
from storage.db import transaction
from storage.models import Customer, User
from tests.conftest import NOW


@pytest.fixture(autouse=True)
def _forget_sources():
    yield
    org_sync.register_org_directory("wecom", None)


def member(userid: str, name: str, leader: str | None = None, status: int = 1) -> dict:
    return {"userid": userid, "name": name, "department": [1], "direct_leader": [leader] if leader else [],
            "status": status}


def test_org_sync_from_wecom(runtime, channels, fake_wecom, capsys):
    with transaction(runtime.factory) as s:
        customers.create(s, "华为技术有限公司", "zhangsan", NOW, "test")
    fake_wecom.members = [member("zhangsan", "张三", "lisi", status=5), member("lisi", "李四（销售部）"),
                          member("sunqi", "孙七"), member("wangxiaoer", "王小二", "lisi")]
    config = runtime.settings.source
    assert main(["org", "sync", "--config", config, "--at", NOW.isoformat()]) == 0
    assert "wecom: 4 members" in capsys.readouterr().out
    with runtime.factory() as s:
        new = s.get(User, "wangxiaoer")
        assert (new.name, new.role, new.manager_id, directory.platform_id(s, new.id, "wecom"), new.active) == ("王小二", "rep", "lisi",
                                                                                   "wangxiaoer", True)
        lisi = s.get(User, "lisi")
        assert (lisi.name, lisi.role, lisi.prefer) == ("李四（销售部）", "manager", "dingtalk")  # [[users]] role stays
        assert s.get(User, "zhangsan").active is False
        [huawei] = s.scalars(select(Customer)).all()
        assert huawei.owner_id == "wangxiaoer"  # handed over to the teammate
    assert fake_wecom.calls("department/list") and fake_wecom.calls("user/list")
    sync_directory(runtime)  # a config reload does not deactivate members the platform brought in
    with runtime.factory() as s:
        assert s.get(User, "wangxiaoer").active is True


def test_an_unreachable_directory_changes_nothing(runtime, channels, fake_wecom, capsys):
    fake_wecom.fail("department/list", 60011)
    assert main(["org", "sync", "--config", runtime.settings.source]) == 1
    assert "directory unavailable" in capsys.readouterr().out
    with runtime.factory() as s:
        assert all(u.active for u in s.scalars(select(User)))
