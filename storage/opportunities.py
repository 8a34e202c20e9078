"""Opportunities, their evidence and requirement changes: every query the opportunity handlers need.

Every change to an opportunity goes through `change` (or `audit.record`) so the audit log has who,
when, before and after under entity "opportunity".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.models import AuditEntry, Message, Opportunity, OpportunityChange, OpportunityEvidence

ENTITY = "opportunity"
OPEN, WON, LOST = "open", "won", "lost"
# what counts as a document, picture or link in a conversation
ATTACHMENT_TYPES = ("file", "image", "link")


def get(session: Session, opportunity_id: int) -> Opportunity | None:
    return session.get(Opportunity, opportunity_id)


def create(session: Session, *, customer_id: int, name: str, amount: Decimal | None, owner_id: str | None,
           stage: str, at: datetime, actor: str) -> Opportunity:
    opp = Opportunity(customer_id=customer_id, name=name[:200], amount=amount, owner_id=owner_id, stage=stage,
                      status=OPEN, entered_stage_at=at, flag=None, flag_level=0, created_at=at, updated_at=at)
    session.add(opp)
    session.flush()
    audit.record(session, at, actor, ENTITY, opp.id, "created", None, f"{name} · {stage}")
    return opp


def change(session: Session, opp: Opportunity, field: str, value: Any, at: datetime, actor: str,
           note: str | None = None) -> bool:
    """Set one field and audit it (False if unchanged)."""
    before = getattr(opp, field)
    if before == value:
        return False
    setattr(opp, field, value)
    opp.updated_at = at
    audit.record(session, at, actor, ENTITY, opp.id, field, before, value, note)
    return True


def move_stage(session: Session, opp: Opportunity, source: str, target: str, at: datetime, actor: str,
               note: str | None = None, status: str = OPEN) -> bool:
    """The stage transition: a conditional UPDATE from `source` while open, so of two moves racing on
    the same opportunity only one happens; resets the dwell clock and the flag. Audited."""
    result = session.execute(
        update(Opportunity).where(Opportunity.id == opp.id, Opportunity.stage == source, Opportunity.status == OPEN)
        .values(stage=target, status=status, entered_stage_at=at, flag=None, flag_level=0, updated_at=at)
        .execution_options(synchronize_session=False))
    session.refresh(opp)
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    audit.record(session, at, actor, ENTITY, opp.id, "stage", source, target, note)
    if status != OPEN:
        audit.record(session, at, actor, ENTITY, opp.id, "status", OPEN, status)
    return True


def for_owner(session: Session, owner_id: str) -> list[Opportunity]:
    stmt = select(Opportunity).where(Opportunity.owner_id == owner_id).order_by(Opportunity.status.desc(),
                                                                                Opportunity.id)
    return list(session.scalars(stmt))


def open_on_customer(session: Session, customer_id: int) -> list[Opportunity]:
    stmt = select(Opportunity).where(Opportunity.customer_id == customer_id, Opportunity.status == OPEN)
    return list(session.scalars(stmt.order_by(Opportunity.id)))


def open_in_stage_since(session: Session, before: datetime, limit: int) -> list[Opportunity]:
    """Open opportunities that entered their stage before `before` (dwell-check candidates)."""
    stmt = (select(Opportunity).where(Opportunity.status == OPEN, Opportunity.entered_stage_at < before)
            .order_by(Opportunity.entered_stage_at, Opportunity.id).limit(limit))
    return list(session.scalars(stmt))


def claim_flag(session: Session, opp: Opportunity, from_level: int, level: int, flag: str) -> bool:
    """Raise the flag one level, only if nobody did since we read it (a second tick tells nobody)."""
    result = session.execute(
        update(Opportunity)
        .where(Opportunity.id == opp.id, Opportunity.flag_level == from_level, Opportunity.stage == opp.stage)
        .values(flag_level=level, flag=flag).execution_options(synchronize_session=False))
    session.refresh(opp)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def history(session: Session, opp: Opportunity) -> list[AuditEntry]:
    return audit.history(session, ENTITY, opp.id)


# ---------------------------------------------------------------------------------------------- evidence


def evidence(session: Session, opp: Opportunity) -> list[OpportunityEvidence]:
    stmt = select(OpportunityEvidence).where(OpportunityEvidence.opportunity_id == opp.id)
    return list(session.scalars(stmt.order_by(OpportunityEvidence.id)))


def evidence_kinds(session: Session, opp: Opportunity) -> set[str]:
    return {e.kind for e in evidence(session, opp)}


def add_evidence(session: Session, opp: Opportunity, *, kind: str, note: str, at: datetime, actor: str,
                 message: Message | None = None, approval_id: int | None = None,
                 context: dict[str, Any] | None = None) -> OpportunityEvidence:
    row = OpportunityEvidence(
        opportunity_id=opp.id, kind=kind, note=note, message_id=message.id if message else None,
        approval_id=approval_id, file_name=message.file_name if message else None,
        file_size=message.file_size if message else None, file_md5=message.file_md5 if message else None,
        context=context or {}, added_by=actor, added_at=at)
    session.add(row)
    session.flush()
    what = (message.file_name or message.text[:60]) if message else note
    audit.record(session, at, actor, ENTITY, opp.id, "evidence", None, f"{kind}：{what}")
    opp.updated_at = at
    return row


def last_attachment(session: Session, customer_id: int) -> Message | None:
    """The last file, image or link sent or received in the customer's conversations (notes excluded)."""
    stmt = (select(Message).where(Message.customer_id == customer_id, Message.source != "note",
                                  or_(Message.msg_type.in_(ATTACHMENT_TYPES), Message.text.like("%http%://%")))
            .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))
    return session.scalars(stmt).first()


def messages_before(session: Session, customer_id: int, at: datetime, limit: int = 3) -> list[Message]:
    """The `limit` conversation messages up to `at`, oldest first."""
    stmt = (select(Message).where(Message.customer_id == customer_id, Message.source != "note", Message.sent_at <= at)
            .order_by(Message.sent_at.desc(), Message.id.desc()).limit(limit))
    return list(reversed(list(session.scalars(stmt))))


def last_document_sent(session: Session, customer_id: int, at: datetime) -> Message | None:
    """The last file our side sent the customer at or before `at`."""
    stmt = (select(Message).where(Message.customer_id == customer_id, Message.from_customer.is_(False),
                                  Message.msg_type == "file", Message.sent_at <= at)
            .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))
    return session.scalars(stmt).first()


def customer_reply_after(session: Session, customer_id: int, at: datetime) -> Message | None:
    stmt = (select(Message).where(Message.customer_id == customer_id, Message.from_customer.is_(True),
                                  Message.sent_at > at).order_by(Message.sent_at, Message.id).limit(1))
    return session.scalars(stmt).first()


# ---------------------------------------------------------------------------------------------- changes


def add_change(session: Session, opp: Opportunity, *, category: str, raised_by: str, impact: str,
               description: str, at: datetime, actor: str) -> OpportunityChange:
    row = OpportunityChange(opportunity_id=opp.id, category=category, raised_by=raised_by, impact=impact,
                            description=description, recorded_by=actor, recorded_at=at)
    session.add(row)
    session.flush()
    audit.record(session, at, actor, ENTITY, opp.id, "requirement", None,
                 f"{category}/{raised_by}/{impact}：{description}")
    opp.updated_at = at
    return row


def changes(session: Session, opp: Opportunity) -> list[OpportunityChange]:
    stmt = select(OpportunityChange).where(OpportunityChange.opportunity_id == opp.id)
    return list(session.scalars(stmt.order_by(OpportunityChange.id)))
