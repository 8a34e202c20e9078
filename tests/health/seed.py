"""Rows for the health tests, inserted directly with known times so each figure can be counted by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from handlers.context import Context
from handlers.leads import give, mark_contacted
from handlers.opportunities.core import Move, move_stage
from handlers.settings import BusinessSettings
from storage import leads as lead_repo
from storage import opportunities as opp_repo
from storage.models import Approval, ApprovalStep, AuditEntry, Customer, Lead, Opportunity, RiskEvent, Todo


def customer(session: Session, name: str, owner: str | None, at: datetime, last: datetime | None = None) -> Customer:
    c = Customer(name=name, owner_id=owner, created_at=at, updated_at=at, last_activity_at=last or at)
    session.add(c)
    session.flush()
    return c


def approval(session: Session, c: Customer, submitter: str, created: datetime, *, hold: list[tuple[str, float]],
             status: str = "approved", note: str = "标准报价", pending: str | None = None,
             escalation: int = 0, sla_hours: int = 24) -> Approval:
    """An approval whose steps were held by (approver, hours) in turn; `pending` adds a current step."""
    a = Approval(kind="quote", customer_id=c.id, submitter_id=submitter, amount=Decimal(100000), note=note,
                 status="pending" if pending else status, created_at=created)
    session.add(a)
    session.flush()
    at = created
    for i, (who, hours) in enumerate(hold):
        end = at + timedelta(hours=hours)
        last = i == len(hold) - 1 and not pending
        session.add(ApprovalStep(approval_id=a.id, position=i, approver_spec=f"user:{who}", approver_id=who,
                                 status="rejected" if last and status == "rejected" else "approved",
                                 sla_hours=sla_hours, started_at=at, decided_at=end, decided_by=who,
                                 escalation_level=escalation))
        at = end
    if pending:
        session.add(ApprovalStep(approval_id=a.id, position=len(hold), approver_spec=f"user:{pending}",
                                 approver_id=pending, status="pending", sla_hours=sla_hours, started_at=at,
                                 escalation_level=escalation))
    else:
        a.decided_at = at
        a.times_returned = int(status == "rejected")
    session.flush()
    return a


def todo(session: Session, owner: str | None, created: datetime, due: datetime | None, done: datetime | None = None,
         *, role: str | None = None, c: Customer | None = None, claimed: datetime | None = None,
         escalation: int = 0, title: str = "回访客户") -> Todo:
    t = Todo(owner_id=owner, role=role, title=title, status="done" if done else "open", created_at=created,
             due_at=due, done_at=done, claimed_at=claimed, customer_id=c.id if c else None,
             escalation_level=escalation)
    session.add(t)
    session.flush()
    return t


def risk(session: Session, c: Customer, at: datetime, severity: str = "high", status: str = "open",
         outcome: str | None = None) -> RiskEvent:
    r = RiskEvent(customer_id=c.id, rule="competitor", label="竞品威胁", severity=severity, keyword="友商",
                  text="友商更便宜", status=status, created_at=at, last_hit_at=at, outcome=outcome)
    session.add(r)
    session.flush()
    return r


def released(session: Session, c: Customer, owner: str, at: datetime) -> None:
    session.add(AuditEntry(at=at, actor="salesbot", entity="customer", entity_id=str(c.id), field="owner_id",
                           before=owner, after=None, note="no activity for 45 days: released to the public pool"))
    c.owner_id, c.status = None, "public"
    session.flush()


# --- leads and opportunities: through salesbot's own transitions, so the audit rows are the real ones ----

def at(session: Session, settings: BusinessSettings, when: datetime) -> Context:
    """A handler context as of `when` (the injected clock of a seeded step)."""
    return Context(session, settings, when)


def lead(ctx: Context, company: str, rep: str) -> Lead:
    """A lead taken in and given to `rep` at ctx.now (as the rule would), its customer created with it."""
    row = lead_repo.add(ctx.session, {"source": "web", "company": company}, ctx.now)
    assert row is not None
    give(ctx, row, rep, "api:web", {"rule": "score", "picked": rep, "why": "seeded"})
    return row


def contact(ctx: Context, row: Lead) -> None:
    """已联系 by the lead's owner at ctx.now."""
    assert row.owner_id is not None
    mark_contacted(ctx, row, row.owner_id)


def reassign(ctx: Context, row: Lead, to: str, manager: str = "lisi") -> None:
    """改派 by a manager at ctx.now."""
    give(ctx, row, to, manager, {**row.reason, "rule": "manual", "picked": to, "why": "改派"})


def opportunity(ctx: Context, c: Customer, owner: str, name: str = "年度采购", amount: int = 100000) -> Opportunity:
    """商机 opened at ctx.now in the first stage."""
    return opp_repo.create(ctx.session, customer_id=c.id, name=name, amount=Decimal(amount), owner_id=owner,
                           stage=ctx.settings.stages[0].name, at=ctx.now, actor=owner)


def move(ctx: Context, opp: Opportunity, stage: str, actor: str | None = None, override: str = "") -> None:
    """阶段 O12 <stage> (强制 <override> when given) at ctx.now."""
    target = next(s for s in ctx.settings.stages if s.name == stage)
    move_stage(ctx, opp, target, Move(actor or opp.owner_id or "", override))


def evidence(ctx: Context, opp: Opportunity, kind: str) -> None:
    opp_repo.add_evidence(ctx.session, opp, kind=kind, note="seeded", at=ctx.now, actor=opp.owner_id or "")
