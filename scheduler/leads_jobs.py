"""Lead checks run by every tick: the first-contact ladder (remind at 24 h, take back at 48 h)."""

from __future__ import annotations

from handlers.context import Context
from handlers.handover import run_transfers
from handlers.leads_report import weekly_fairness_card
from handlers.leads_sla import check_first_contact
from handlers.org_sync import scheduled_org_sync
from scheduler.jobs import scheduled_check


@scheduled_check("lead_first_contact")
def lead_first_contact(ctx: Context) -> list[str]:
    """Assigned leads not contacted in time: the rep reminded and the manager told, then back to the pool."""
    return check_first_contact(ctx)


@scheduled_check("platform_transfers")
def platform_transfers(ctx: Context) -> list[str]:
    """Customer hand-overs: start the queued ones, poll the started ones, report failures."""
    return run_transfers(ctx)


@scheduled_check("lead_fairness_weekly")
def lead_fairness_weekly(ctx: Context) -> list[str]:
    """Monday morning: last week's lead fairness report to the managers."""
    return weekly_fairness_card(ctx)


@scheduled_check("org_sync")
def org_sync(ctx: Context) -> list[str]:
    """Every [leads] org_sync_hours: the org directory from WeCom / DingTalk; leavers handed over."""
    return scheduled_org_sync(ctx)
