"""Two taps (or two workers) racing on one step: the conditional UPDATEs let exactly one through, even
when the loser read the step while it was still open."""

from __future__ import annotations

from datetime import timedelta

from storage import approvals as repo
from storage.db import transaction
from storage.models import Approval, ApprovalStep
from tests.approvals.conftest import Chat
from tests.conftest import NOW

HUAWEI = "华为技术有限公司"


def _quote(chat: Chat) -> int:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    with chat.factory() as s:
        step = repo.current_step(s, 1)
        assert step is not None and step.position == 1
        return step.id


def test_a_second_decision_on_a_step_already_decided_is_refused(chat: Chat) -> None:
    step_id = _quote(chat)
    with transaction(chat.factory) as s:
        assert repo.decide_step(s, step_id, "approved", "lisi", NOW)
    with transaction(chat.factory) as s:  # a racing 驳回 that read the step while it was pending
        assert not repo.decide_step(s, step_id, "rejected", "lisi", NOW, "太贵")
    with chat.factory() as s:
        step = s.get(ApprovalStep, step_id)
        assert step is not None and (step.status, step.reason) == ("approved", None)
        assert repo.current_step(s, 1) is None  # nothing pending until the flow advances it


def test_an_approval_closes_once_and_cancels_only_its_open_steps(chat: Chat) -> None:
    step_id = _quote(chat)
    with transaction(chat.factory) as s:
        assert repo.decide_step(s, step_id, "approved", "lisi", NOW)
        assert repo.close(s, 1, "withdrawn", NOW + timedelta(hours=1))
    with transaction(chat.factory) as s:
        assert not repo.close(s, 1, "rejected", NOW + timedelta(hours=2), returned=True)
    with chat.factory() as s:
        approval = s.get(Approval, 1)
        assert approval is not None
        assert (approval.status, approval.decided_at, approval.times_returned) == (
            "withdrawn", NOW + timedelta(hours=1), 0)
        assert [st.status for st in approval.steps] == ["approved", "cancelled", "cancelled", "cancelled"]


def test_an_escalation_level_moves_only_from_the_level_it_was_read_at(chat: Chat) -> None:
    step_id = _quote(chat)
    later = NOW + timedelta(days=2)
    with transaction(chat.factory) as s:
        assert repo.set_escalation(s, step_id, 0, 1, later)
    with transaction(chat.factory) as s:  # a second worker that read level 0 too
        assert not repo.set_escalation(s, step_id, 0, 1, None)
        assert repo.decide_step(s, step_id, "approved", "lisi", NOW)
    with transaction(chat.factory) as s:  # decided meanwhile: no more levels
        assert not repo.set_escalation(s, step_id, 1, 2, None)
    with chat.factory() as s:
        step = s.get(ApprovalStep, step_id)
        assert step is not None and (step.escalation_level, step.next_check_at) == (1, None)


def test_an_earlier_approval_is_found_only_for_its_approver_and_approval(chat: Chat) -> None:
    step_id = _quote(chat)
    with transaction(chat.factory) as s:
        repo.decide_step(s, step_id, "approved", "lisi", NOW)
    with chat.factory() as s:
        found = repo.has_approved(s, 1, "lisi")
        assert found is not None and found.id == step_id
        assert repo.has_approved(s, 1, "wangwu") is None
        assert repo.has_approved(s, 2, "lisi") is None
