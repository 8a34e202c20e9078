"""SQLAlchemy 2.x models: the whole schema in one place.

Times are stored as naive UTC and handed back timezone-aware (UTCDateTime), so SQLite and PostgreSQL
behave the same. Enum-like columns are short strings whose allowed values are listed beside them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from storage.states import (
    ApprovalStatus,
    CustomerStatus,
    InboundStatus,
    LeadStatus,
    OutboxStatus,
    RiskStatus,
    StepStatus,
    TodoStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; refuses naive input so local times cannot sneak in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), Decimal: Numeric(16, 2)}


class User(Base):
    """A member of the org directory, synced from [[users]]."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32), default="rep")
    manager_id: Mapped[str | None] = mapped_column(String(64))
    prefer: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_from: Mapped[str | None] = mapped_column(String(16))  # platform whose directory sync made the user
    current_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", use_alter=True))


class UserIdentity(Base):
    """How a directory user is known on a platform (WeCom userid, DingTalk staff id...): one id per
    platform per user, and an id names one user (like customer_identities for customers)."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128))


class Customer(Base):
    """A customer record; its status is a states.CustomerStatus (active, public pool, closed)."""

    __tablename__ = "customers"
    # the silent-customer check reads (status, silence_level, last_activity_at) ranges: cost follows what is due
    __table_args__ = (Index("ix_customers_silence", "status", "silence_level", "last_activity_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    industry: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32), default="lead")  # lead qualified proposal negotiation won lost
    status: Mapped[str] = mapped_column(String(16), default=CustomerStatus.ACTIVE)  # states.CUSTOMER
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_activity_at: Mapped[datetime | None] = mapped_column(index=True)
    # silent-customer checks: 0 none yet, 1 owner reminded, 2 released to the public pool
    silence_level: Mapped[int] = mapped_column(Integer, default=0)
    identities: Mapped[list[CustomerIdentity]] = relationship(back_populates="customer")


class CustomerIdentity(Base):
    """How a customer is known on a platform (WeCom external_userid, DingTalk staff/union id)."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200))
    customer: Mapped[Customer] = relationship(back_populates="identities")


class Conversation(Base):
    """A platform conversation (one-to-one, group, archived chat room) tied to a customer."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "conversation_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="single")  # single group
    title: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    linked_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Message(Base):
    """A message on a customer's timeline; unique per platform message id."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("platform", "platform_msg_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_msg_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16), default="app")  # app robot archive note
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    sender: Mapped[str] = mapped_column(String(128))
    sender_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    from_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime]
    # what kind of message (text image file link...) and, for a file, what the archive record says of it
    msg_type: Mapped[str] = mapped_column(String(16), default="text", server_default="text")
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_md5: Mapped[str | None] = mapped_column(String(64))


class InboundItem(Base):
    """Raw inbound message or event, stored before the platform is answered; drained by a job."""

    __tablename__ = "inbound"
    __table_args__ = (
        UniqueConstraint("platform", "dedupe_key"),
        Index("ix_inbound_pending", "status", "available_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # message event
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.PENDING)  # states.INBOUND
    available_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class Todo(Base):
    """A to-do for an owner, or claimable by anyone with a role (owner_id empty until claimed)."""

    __tablename__ = "todos"
    __table_args__ = (Index("ix_todos_due", "status", "next_check_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    source_rule: Mapped[str | None] = mapped_column(String(64))
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    status: Mapped[str] = mapped_column(String(16), default=TodoStatus.OPEN)  # states.TODO
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None]

    @property
    def code(self) -> str:
        return f"T{self.id}"


class Approval(Base):
    """A quote or contract submitted for approval; a resubmission is a new version row."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # quote contract
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    submitter_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[Decimal]
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.PENDING)  # states.APPROVAL
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id"))
    current_position: Mapped[int] = mapped_column(Integer, default=0)
    times_returned: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), index=True)
    steps: Mapped[list[ApprovalStep]] = relationship(
        back_populates="approval", order_by="ApprovalStep.position"
    )

    @property
    def code(self) -> str:
        return f"A{self.id}"


class ApprovalStep(Base):
    """One step of an approval chain: who decides, its SLA and its outcome."""

    __tablename__ = "approval_steps"
    __table_args__ = (
        UniqueConstraint("approval_id", "position"),
        Index("ix_approval_steps_due", "status", "next_check_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"))
    position: Mapped[int] = mapped_column(Integer)
    approver_spec: Mapped[str] = mapped_column(String(64))
    approver_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    approver_role: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.WAITING)  # states.APPROVAL_STEP
    sla_hours: Mapped[int] = mapped_column(Integer, default=24)
    started_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None]
    approval: Mapped[Approval] = relationship(back_populates="steps")


class RiskEvent(Base):
    """A risk recognised in a customer's words; later hits inside the cooldown join it."""

    __tablename__ = "risk_events"
    __table_args__ = (Index("ix_risk_events_rule", "rule", "customer_id", "last_hit_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    status: Mapped[str] = mapped_column(String(16), default=RiskStatus.OPEN)  # states.RISK
    hits: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    last_hit_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(Text)
    # closing (结案): result saved recovered / lost / no_effect, who closed it and when
    result: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # how many "please close it" reminders the owner has had (one per configured level)
    remind_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # raised by a notify_mode = "daily" rule and not yet in a digest card
    digest_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    @property
    def code(self) -> str:
        return f"R{self.id}"


class RiskVote(Base):
    """A reader's verdict on a risk card (误报 false_alarm / 有用 useful); one per person per event, changeable.

    The rule, keyword and words are copied from the event so the report survives rule edits."""

    __tablename__ = "risk_votes"
    __table_args__ = (UniqueConstraint("event_id", "user_id"), Index("ix_risk_votes_rule", "rule", "keyword"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("risk_events.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    rule: Mapped[str] = mapped_column(String(64))
    keyword: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    vote: Mapped[str] = mapped_column(String(16))  # false_alarm useful
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutboxItem(Base):
    """A card waiting to go to one recipient; written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_target_sent", "channel", "target", "sent_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # wecom dingtalk console
    target: Mapped[str] = mapped_column(String(128))  # platform user id
    recipient_id: Mapped[str | None] = mapped_column(String(64))  # directory user id, if known
    reply_webhook: Mapped[str | None] = mapped_column(Text)
    reply_webhook_expires: Mapped[datetime | None]
    card: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)  # states.OUTBOX
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_ref: Mapped[str | None] = mapped_column(String(255))  # e.g. a WeCom response_code
    # Higher goes first when a recipient's rate limit lets only some through (decisions before receipts).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Unsent rows with the same collapse_key to the same target merge into one (「已记录」 receipts).
    collapse_key: Mapped[str | None] = mapped_column(String(64))
    collapsed: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # cards merged into this row


class AuditEntry(Base):
    """Who changed which field of what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class OrgEvent(Base):
    """A directory change reported by a platform (someone left, moved), kept for hand-overs."""

    __tablename__ = "org_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    platform_user_ids: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    handled: Mapped[bool] = mapped_column(Boolean, default=False)


class PlatformToken(Base):
    """An access token shared by every worker (one row per app and API host)."""

    __tablename__ = "platform_tokens"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]


class Cursor(Base):
    """A resumable position in an external stream (the WeCom archive seq)."""

    __tablename__ = "cursors"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class Lease(Base):
    """A named lease held by one process until it expires (the single scheduler)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class RobotSignature(Base):
    """A DingTalk robot (timestamp, sign) header pair seen in HTTP mode and the one msgId it carried.

    The sign covers only the timestamp, so without this a captured pair would sign any body for an
    hour. The primary key makes two workers racing on the same pair agree on one msgId.
    """

    __tablename__ = "robot_signatures"
    timestamp: Mapped[str] = mapped_column(String(20), primary_key=True)
    sign: Mapped[str] = mapped_column(String(64), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(index=True)
# ------------------------------------------------------------------------------------------ leads


class Lead(Base):
    """A sales lead from an intake source; status new assigned contacted invalid pool followup review.

    `reason` keeps why it went where it went (the scores of the candidates). `sla_level` is the
    first-contact ladder: 0 none yet, 1 rep reminded and manager told, 2 taken back to the pool.
    """

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("source", "client_key"),
        Index("ix_leads_sla", "status", "next_check_at"),
        Index("ix_leads_owner", "owner_id", "status"),
        Index("ix_leads_source_created", "source", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str | None] = mapped_column(String(128))
    company: Mapped[str] = mapped_column(String(200))
    company_key: Mapped[str] = mapped_column(String(200), index=True)
    company_prefix: Mapped[str] = mapped_column(String(8), index=True)  # near-match candidates
    contact: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    phone_key: Mapped[str] = mapped_column(String(32), default="", index=True)
    industry: Mapped[str] = mapped_column(String(64), default="")
    budget: Mapped[Decimal | None]
    urgency: Mapped[str] = mapped_column(String(32), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.NEW)  # states.LEAD
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    contacted_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(Text)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_level: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None]

    @property
    def code(self) -> str:
        return f"L{self.id}"


class LeadLoad(Base):
    """Per-rep counters kept by every lead transition, so assignment reads 1 row per rep, not their leads."""

    __tablename__ = "lead_loads"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    open_leads: Mapped[int] = mapped_column(Integer, default=0)  # assigned or contacted, not stale
    stale_leads: Mapped[int] = mapped_column(Integer, default=0)  # assigned, untouched past stale_hours


class LeadDaily(Base):
    """Leads assigned to a rep per day and industry ('' = none): the daily cap and the industry fuse."""

    __tablename__ = "lead_daily"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, Asia/Shanghai
    industry: Mapped[str] = mapped_column(String(64), primary_key=True)
    assigned: Mapped[int] = mapped_column(Integer, default=0)


class PoolClaim(Base):
    """A claim from the public pool (`申领`): who took which lead or customer, when and why."""

    __tablename__ = "pool_claims"
    __table_args__ = (Index("ix_pool_claims_user", "user_id", "claimed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(Text)
    claimed_at: Mapped[datetime]


class PlatformTransfer(Base):
    """A platform hand-over of one customer or group chat (WeCom 离职/在职继承), polled until it settles.

    status: queued (not sent yet), started (the platform accepted it), done, failed (`detail` says why).
    """

    __tablename__ = "platform_transfers"
    __table_args__ = (Index("ix_platform_transfers_due", "status", "next_check_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # customer groupchat
    external_id: Mapped[str] = mapped_column(String(128))
    handover_id: Mapped[str] = mapped_column(String(64))  # platform user ids
    takeover_id: Mapped[str] = mapped_column(String(64))
    successor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    resigned: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_check_at: Mapped[datetime | None]


# win rate per rep and industry reads closed customers by industry: cost follows the closed ones, not all
Index("ix_customers_outcome", Customer.industry, Customer.stage, Customer.updated_at)
class Opportunity(Base):
    """A deal on a customer moving through the configured [[stages]]; `flag` is yellow (past the
    stage's max_days) or red (past twice), and `flag_level` says who was told (1 owner, 2 manager)."""

    __tablename__ = "opportunities"
    __table_args__ = (Index("ix_opportunities_stage", "status", "entered_stage_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal | None]
    expected_close_at: Mapped[datetime | None]
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)  # the sales rep
    solution_lead_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    delivery_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    success_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))  # customer success
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open won lost
    entered_stage_at: Mapped[datetime]
    flag: Mapped[str | None] = mapped_column(String(8))  # None yellow red
    flag_level: Mapped[int] = mapped_column(Integer, default=0)
    lost_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def code(self) -> str:
        return f"O{self.id}"


class OpportunityEvidence(Base):
    """Evidence for a stage: a file, image or link from the customer's conversation, or a typed note.
    `context` keeps the three messages before it, the document last sent and the customer's reply time."""

    __tablename__ = "opportunity_evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approvals.id"))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_md5: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[dict[str, Any]]
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]


class OpportunityChange(Base):
    """A requirement change on record: what kind, who asked, what it affects."""

    __tablename__ = "opportunity_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))  # 技术 商务 法务
    raised_by: Mapped[str] = mapped_column(String(16))  # 客户决策人 使用部门 IT
    impact: Mapped[str] = mapped_column(String(16))  # 交付周期 报价 合同条款
    description: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
class ReportRun(Base):
    """A weekly report sent to one manager: the claim that makes the tick send it once per week."""

    __tablename__ = "report_runs"
    manager_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # ISO week, 2026-W48
    sent_at: Mapped[datetime]


class BoardLogin(Base):
    """A board login link that has been used: its nonce, so the same link cannot log in twice."""

    __tablename__ = "board_logins"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime]


# Process-health report and board: their queries read time ranges of these columns.
Index("ix_approvals_decided_at", Approval.decided_at)
Index("ix_approval_steps_decided_at", ApprovalStep.decided_at)
Index("ix_todos_due_at", Todo.due_at)
Index("ix_risk_events_created_at", RiskEvent.created_at)
Index("ix_audit_log_at", AuditEntry.at)
# ... and which the planner picks without statistics (SQLite, no ANALYZE): two constrained columns beat
# one, a covering index beats table lookups (EXPLAIN QUERY PLAN in migration 0009 says which query each serves).
Index("ix_customers_owner_silent", Customer.owner_id, Customer.status, Customer.last_activity_at)
Index("ix_approvals_status_decided", Approval.status, Approval.decided_at)
Index("ix_approvals_created_at", Approval.created_at)
Index("ix_approval_steps_open", ApprovalStep.approval_id, ApprovalStep.status)
Index("ix_approval_steps_status_decided", ApprovalStep.status, ApprovalStep.decided_at)
Index("ix_approval_steps_started_at", ApprovalStep.started_at)
Index("ix_todos_overdue", Todo.due_at, Todo.done_at, Todo.created_at, Todo.owner_id)
Index("ix_todos_owner_overdue", Todo.owner_id, Todo.due_at, Todo.done_at, Todo.created_at)
Index("ix_todos_status_done", Todo.status, Todo.done_at)
Index("ix_todos_created_at", Todo.created_at, Todo.owner_id, Todo.due_at, Todo.role)
Index("ix_risk_events_open", RiskEvent.severity, RiskEvent.status, RiskEvent.created_at)


class HealthSnapshot(Base):
    """One metric's samples (per person) for one ended week, saved by the tick so the 健康度 trend reads
    them instead of recomputing past weeks. `basis` fingerprints the settings the figures were computed
    with: a snapshot taken under other settings is not read."""

    __tablename__ = "health_snapshots"
    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # ISO week, 2026-W48
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    basis: Mapped[str] = mapped_column(String(16), primary_key=True)
    payload: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(32))  # of the payload: a reader may cache what it decoded
    taken_at: Mapped[datetime]
