"""Every state machine of the schema: its states (stored by value, the strings the columns always held)
and the moves allowed between them, one table per machine.

`Machine.move` is the transition: a conditional UPDATE whose WHERE names the state it moves from, so
of two workers (or two taps) racing on the same row only one succeeds; a move the table does not allow
is a programming error and raises before touching the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session


class ApprovalStatus(StrEnum):
    PENDING = "pending"  # a step is waiting for a decision
    APPROVED = "approved"
    REJECTED = "rejected"  # returned to the submitter, who may submit a new version
    WITHDRAWN = "withdrawn"
    RETURNED = "returned"  # sent back for more material (补充), not rejected; the submitter resubmits


class StepStatus(StrEnum):
    WAITING = "waiting"  # an earlier step is still open
    PENDING = "pending"  # the current step: its approver decides, its SLA clock runs
    APPROVED = "approved"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # outside the step's amount range, or its approver already approved earlier
    CANCELLED = "cancelled"  # the approval ended (rejected, withdrawn) before this step was decided


class TodoStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class CustomerStatus(StrEnum):
    ACTIVE = "active"  # has an owner who follows it up
    PUBLIC = "public"  # in the public pool: any rep may claim it
    CLOSED = "closed"  # left out of lists; nothing closes a customer yet


class RiskStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class InboundStatus(StrEnum):
    PENDING = "pending"  # stored by the edge, not handled yet (or waiting for a retry)
    DONE = "done"
    FAILED = "failed"  # given up after its retries


class OutboxStatus(StrEnum):
    PENDING = "pending"  # queued, or waiting for a retry
    SENT = "sent"
    DEAD = "dead"  # given up after max_attempts, or refused for good by the platform
    DROPPED = "dropped"  # an operator chose never to send it (`salesbot outbox drop`)


class LeadStatus(StrEnum):
    NEW = "new"  # just taken in, not routed yet
    REVIEW = "review"  # looks like a duplicate: an admin confirms
    POOL = "pool"  # nobody could take it: any rep may claim it
    ASSIGNED = "assigned"  # a rep owns it and has not contacted it yet
    CONTACTED = "contacted"
    FOLLOWUP = "followup"  # an existing customer's: its owner follows it up
    INVALID = "invalid"


S = TypeVar("S", bound=StrEnum)


class IllegalTransition(Exception):
    """A move the machine's table does not allow (a bug, not a race)."""


@dataclass(frozen=True)
class Machine(Generic[S]):
    """One state machine: which states each state may move to."""

    name: str
    allowed: Mapping[S, frozenset[S]]

    def check(self, source: S, target: S) -> None:
        if target not in self.allowed.get(source, frozenset()):
            raise IllegalTransition(f"{self.name}: {source} -> {target} is not a transition")

    def allows(self, source: str, target: str) -> bool:
        """Whether the table has source -> target (states as members or as the stored strings)."""
        return any(s == source and target in targets for s, targets in self.allowed.items())

    def move(self, session: Session, model: Any, *where: Any, source: S | Iterable[S], target: S,
             synchronize: str | bool = "auto", **values: Any) -> int:
        """UPDATE model SET status = target (and values) WHERE status = source AND where; rows moved."""
        sources = [source] if isinstance(source, StrEnum) else list(source)
        for s in sources:
            self.check(s, target)
        status = model.status == sources[0] if len(sources) == 1 else model.status.in_(sources)
        result = session.execute(update(model).where(status, *where).values(status=target, **values)
                                 .execution_options(synchronize_session=synchronize))
        return int(result.rowcount)  # type: ignore[attr-defined]


APPROVAL = Machine[ApprovalStatus]("approval", {
    ApprovalStatus.PENDING: frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.WITHDRAWN,
                                       ApprovalStatus.RETURNED}),
})
APPROVAL_STEP = Machine[StepStatus]("approval step", {
    StepStatus.WAITING: frozenset({StepStatus.PENDING, StepStatus.SKIPPED, StepStatus.CANCELLED}),
    StepStatus.PENDING: frozenset({StepStatus.APPROVED, StepStatus.REJECTED, StepStatus.CANCELLED}),
})
TODO = Machine[TodoStatus]("to-do", {TodoStatus.OPEN: frozenset({TodoStatus.DONE})})
CUSTOMER = Machine[CustomerStatus]("customer", {
    CustomerStatus.ACTIVE: frozenset({CustomerStatus.PUBLIC}),
    CustomerStatus.PUBLIC: frozenset({CustomerStatus.ACTIVE}),
})
RISK = Machine[RiskStatus]("risk event", {RiskStatus.OPEN: frozenset({RiskStatus.CLOSED})})
INBOUND = Machine[InboundStatus]("inbound item", {
    InboundStatus.PENDING: frozenset({InboundStatus.DONE, InboundStatus.FAILED}),
})
OUTBOX = Machine[OutboxStatus]("outbox item", {
    OutboxStatus.PENDING: frozenset({OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.DROPPED}),
    OutboxStatus.DEAD: frozenset({OutboxStatus.PENDING, OutboxStatus.DROPPED}),  # outbox retry / drop
    OutboxStatus.DROPPED: frozenset({OutboxStatus.PENDING}),  # outbox retry
})
_L = LeadStatus
LEAD = Machine[LeadStatus]("lead", {  # a reassignment (assigned -> assigned) is a move too: the owner changes
    _L.NEW: frozenset({_L.ASSIGNED, _L.POOL, _L.FOLLOWUP, _L.REVIEW, _L.INVALID}),
    _L.REVIEW: frozenset({_L.ASSIGNED, _L.POOL, _L.FOLLOWUP, _L.INVALID}),
    _L.POOL: frozenset({_L.ASSIGNED, _L.INVALID}),
    _L.ASSIGNED: frozenset({_L.ASSIGNED, _L.CONTACTED, _L.INVALID, _L.POOL}),
    _L.CONTACTED: frozenset({_L.ASSIGNED, _L.CONTACTED, _L.INVALID, _L.POOL}),
    _L.FOLLOWUP: frozenset(),
    _L.INVALID: frozenset(),
})
