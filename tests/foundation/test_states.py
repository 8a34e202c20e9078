"""State machines: the stored values never change (no migration), only the table's moves happen, and a
move is conditional on the state it starts from."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import todos
from storage.models import Todo
from storage.states import (
    APPROVAL,
    APPROVAL_STEP,
    LEAD,
    OUTBOX,
    TODO,
    ApprovalStatus,
    CustomerStatus,
    IllegalTransition,
    InboundStatus,
    LeadStatus,
    OutboxStatus,
    RiskStatus,
    StepStatus,
    TodoStatus,
)
from tests.conftest import NOW

# The strings existing databases hold; changing one needs a migration.
STORED = {
    ApprovalStatus: {"pending", "approved", "rejected", "withdrawn", "returned"},
    StepStatus: {"waiting", "pending", "approved", "rejected", "skipped", "cancelled"},
    TodoStatus: {"open", "done"},
    CustomerStatus: {"active", "public", "closed"},
    RiskStatus: {"open", "closed"},
    InboundStatus: {"pending", "done", "failed"},
    OutboxStatus: {"pending", "sent", "dead", "dropped"},
    LeadStatus: {"new", "review", "pool", "assigned", "contacted", "followup", "invalid"},
}


@pytest.mark.parametrize("states", list(STORED), ids=lambda s: s.__name__)
def test_states_are_stored_by_the_values_databases_already_hold(states):
    assert {s.value for s in states} == STORED[states]


def test_a_decided_step_cannot_be_reopened_nor_an_approval_revived():
    with pytest.raises(IllegalTransition):
        APPROVAL_STEP.check(StepStatus.APPROVED, StepStatus.PENDING)
    with pytest.raises(IllegalTransition):
        APPROVAL.check(ApprovalStatus.WITHDRAWN, ApprovalStatus.PENDING)
    APPROVAL_STEP.check(StepStatus.WAITING, StepStatus.PENDING)  # the normal path is allowed


def test_a_sent_card_is_never_resent_nor_a_closed_lead_reopened():
    """`outbox retry` requeues dead or dropped cards only; an invalid or follow-up lead stays where it is."""
    with pytest.raises(IllegalTransition):
        OUTBOX.check(OutboxStatus.SENT, OutboxStatus.PENDING)
    OUTBOX.check(OutboxStatus.DROPPED, OutboxStatus.PENDING)
    assert LEAD.allows("assigned", "assigned")  # a reassignment is a move: the owner changes
    assert not LEAD.allows("invalid", "assigned") and not LEAD.allows("followup", "pool")
    assert not LEAD.allows("contacted", "new")


def test_an_illegal_move_raises_before_touching_the_row(session: Session):
    todo = todos.add(session, title="回电", at=NOW, actor="test", role="rep")
    with pytest.raises(IllegalTransition):
        TODO.move(session, Todo, Todo.id == todo.id, source=TodoStatus.DONE, target=TodoStatus.OPEN)
    assert session.scalar(select(Todo.status).where(Todo.id == todo.id)) == TodoStatus.OPEN


def test_a_move_from_a_state_the_row_has_left_moves_nothing(session: Session):
    todo = todos.add(session, title="回电", at=NOW, actor="test", role="rep")
    assert todos.close(session, todo, NOW, "test") is True
    assert todos.close(session, todo, NOW, "test") is False  # the second tap finds it done already
    assert todo.status == TodoStatus.DONE and todo.done_by == "test"
