"""Scheduled checks (escalate, remind, recycle...) and `run_tick`, which runs them all once.

A check is a plain function `check(ctx) -> list[str]` that reads the time from ctx.now, posts its
cards through handlers.outbox and returns one line per thing it did. State columns in the database
make every check idempotent: running it twice at the same time does nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers import handover, leads_report, leads_sla, org_sync, risk_followup
from handlers.context import Context
from handlers.health import snapshots, weekly
from handlers.opportunities.escalation import flag_stale_opportunities
from scheduler import archive_pull, escalation
from scheduler.settings import WorkerSettings
from storage.db import transaction

log = logging.getLogger(__name__)

Check = Callable[[Context], list[str]]
# Every check a tick runs, in order; a new check is a line here.
CHECKS: dict[str, Check] = {
    "approval_sla": escalation.escalate_approvals,
    "todo_sla": escalation.escalate_todos,
    "silent_customers": escalation.recycle_silent_customers,
    "archive_pull": archive_pull.pull_missed_archive_messages,
    "risk_close_reminders": risk_followup.remind_to_close,
    "risk_digest": risk_followup.send_digests,
    "rules_report_weekly": risk_followup.weekly_rules_report,
    "lead_first_contact": leads_sla.check_first_contact,
    "platform_transfers": handover.run_transfers,
    "lead_fairness_weekly": leads_report.weekly_fairness_card,
    "org_sync": org_sync.scheduled_org_sync,
    "stale_opportunities": flag_stale_opportunities,
    "weekly_report": weekly.send_weekly_reports,
    "health_snapshots": snapshots.save_weekly_snapshots,
}


def run_tick(factory: sessionmaker[Session], settings: WorkerSettings, now: datetime) -> list[str]:
    """Run every registered check once as of `now`, each in its own transaction."""
    lines: list[str] = []
    for name, check in CHECKS.items():
        try:
            with transaction(factory) as session:
                done = check(Context(session, settings, now))
        except Exception:
            log.exception("scheduled check %s failed; the others still run", name)
            lines.append(f"{name}: failed (see log)")
            continue
        lines += [f"{name}: {line}" for line in done]
    return lines
