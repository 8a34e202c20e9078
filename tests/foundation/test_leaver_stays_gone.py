"""A member the platform reported as gone stays inactive when the service restarts with a config that
still lists them (the [[users]] sync must not bring a leaver back: they would get new leads and
approval steps again)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.runtime import Runtime, sync_directory
from handlers.context import Context
from handlers.handover import hand_over_departed
from handlers.org_events import member_left
from storage import directory
from storage.models import AuditEntry, User
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


def test_only_a_change_of_active_decides_not_later_hand_over_entries(runtime: Runtime) -> None:
    """The config retired zhangsan; his manager then handed his customers over (a later audit entry by
    someone else, but not of `active`): listing him again brings him back."""
    listed = list(runtime.settings.users)
    with runtime.factory.begin() as s:
        directory.sync_users(s, [u for u in listed if u.id != "zhangsan"], NOW)
    with runtime.factory.begin() as s:
        hand_over_departed(Context(s, runtime.settings, NOW), "zhangsan", successor_id="lisi", actor="lisi")
    with runtime.factory.begin() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.entity_id == "zhangsan",
                                                  AuditEntry.actor == "lisi")).first() is not None
        directory.sync_users(s, listed, NOW)
        assert s.get(User, "zhangsan").active is True
