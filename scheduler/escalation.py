"""The SLA checks every tick runs. The rules live beside what they escalate — approval steps in
handlers.approvals.escalation, to-dos in handlers.todo_escalation, silent customers in
handlers.customer_silence; this module only calls them with the tick's clock and settings (in ctx)."""

from __future__ import annotations

from handlers.approvals.escalation import escalate_waiting_steps
from handlers.context import Context
from handlers.customer_silence import recycle_silent
from handlers.todo_escalation import escalate_overdue_todos


def escalate_approvals(ctx: Context) -> list[str]:
    """Approval steps waiting past their SLA."""
    return escalate_waiting_steps(ctx)


def escalate_todos(ctx: Context) -> list[str]:
    """Overdue to-dos, and claimable ones nobody took."""
    return escalate_overdue_todos(ctx)


def recycle_silent_customers(ctx: Context) -> list[str]:
    """Customers without activity: remind the owner, later release to the public pool."""
    return recycle_silent(ctx)
