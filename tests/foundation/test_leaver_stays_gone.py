"""A member the platform reported as gone stays inactive when the service restarts with a config that
still lists them (the [[users]] sync must not bring a leaver back: they would get new leads and
approval steps again)."""

from __future__ import annotations

import logging

import pytest

from bot.runtime import Runtime, sync_directory
from handlers.context import Context
from handlers.org_events import member_left
from storage import directory
from storage.models import User
from tests.conftest import NOW


def test_a_leaver_stays_inactive_after_a_restart(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    with runtime.factory.begin() as s:
        member_left(Context(s, runtime.settings, NOW), "wecom", ["zhangsan"])
    with runtime.factory() as s:
        assert s.get(User, "zhangsan").active is False
    with caplog.at_level(logging.WARNING, "storage.directory"):
        sync_directory(runtime)  # what `salesbot serve` does on start
    with runtime.factory() as s:
        assert s.get(User, "zhangsan").active is False
        assert directory.by_platform_id(s, "wecom", "zhangsan") is None
        assert s.get(User, "lisi").active is True  # everyone else listed stays as they were
    assert "zhangsan left the organisation but is still listed in [[users]]" in caplog.text


def test_a_config_can_still_retire_and_bring_back_its_own_users(runtime: Runtime) -> None:
    listed = list(runtime.settings.users)
    with runtime.factory.begin() as s:
        directory.sync_users(s, [u for u in listed if u.id != "zhangsan"], NOW)
        assert s.get(User, "zhangsan").active is False
    with runtime.factory.begin() as s:
        directory.sync_users(s, listed, NOW)
        assert s.get(User, "zhangsan").active is True
