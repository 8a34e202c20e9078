"""The one id map (storage/directory.py): [[users]] platform ids become user_identities rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import directory
from storage.models import AuditEntry
from tests.conftest import NOW


@dataclass(frozen=True)
class U:
    id: str
    name: str
    platform_ids: dict[str, str] = field(default_factory=dict)
    role: str = "rep"
    manager: str | None = None
    prefer: str | None = None


def test_two_users_swapping_ids_and_a_leaver_whose_id_is_reused(session):
    directory.sync_users(session, [U("a", "甲", {"wecom": "w1", "dingtalk": "d1"}), U("b", "乙", {"wecom": "w2"}),
                                   U("c", "丙", {"dingtalk": "d3"})], NOW)
    assert directory.by_platform_id(session, "wecom", "w1").id == "a"
    # a and b swap WeCom ids; c leaves and a newcomer gets c's DingTalk id
    changes = directory.sync_users(session, [U("a", "甲", {"wecom": "w2", "dingtalk": "d1"}), U("b", "乙", {"wecom": "w1"}),
                                             U("n", "新", {"dingtalk": "d3"})], NOW)
    assert directory.by_platform_id(session, "wecom", "w2").id == "a"
    assert directory.by_platform_id(session, "wecom", "w1").id == "b"
    assert directory.by_platform_id(session, "dingtalk", "d3").id == "n"
    assert directory.platform_ids(session, "a") == {"wecom": "w2", "dingtalk": "d1"}
    assert directory.platform_ids(session, "c") == {}  # the newcomer holds it now
    assert directory.member_ids(session, "wecom") == {"w1", "w2"}
    audited = {(e.entity_id, e.field, e.before, e.after) for e in session.query(AuditEntry).filter_by(entity="user")}
    assert {("a", "wecom_userid", "w1", "w2"), ("b", "wecom_userid", "w2", "w1"),
            ("c", "dingtalk_userid", "d3", None)} <= audited
    assert changes >= 4
    # nothing changed: nothing written
    assert directory.sync_users(session, [U("a", "甲", {"wecom": "w2", "dingtalk": "d1"}), U("b", "乙", {"wecom": "w1"}),
                                          U("n", "新", {"dingtalk": "d3"})], NOW) == 0


def test_a_leaver_keeps_their_ids_but_is_no_longer_found(session):
    directory.sync_users(session, [U("a", "甲", {"wecom": "w1"}), U("b", "乙")], NOW)
    directory.sync_users(session, [U("b", "乙")], NOW)
    assert directory.platform_ids(session, "a") == {"wecom": "w1"}  # kept for the hand-over's history
    assert directory.by_platform_id(session, "wecom", "w1") is None  # inactive: may no longer act
    directory.set_platform_id(session, "b", "lark", "ou_b")
    assert directory.platform_id(session, "b", "lark") == "ou_b"
    assert directory.platform_id(session, "b", "console") == "b"
    directory.set_platform_id(session, "b", "lark", None)
    assert directory.platform_id(session, "b", "lark") is None
