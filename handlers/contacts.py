"""Customer contacts and card taps (neutral events from handlers.event_model).

- CustomerAdded: a rep added a customer (create or link the customer, owned by that rep);
  CustomerDeletedRep: the customer deleted the rep (a risk card to the rep's manager);
  CustomerRemovedByRep / CustomerTransferred: the rep deleted the customer or a transfer moved them
  (ownership follows); CustomerTransferFailed: the manager hears why. Every change is audited.
- CardTapped: tapping a card button runs the button's command exactly as if the tapper had typed it,
  with the tapper's identity from the signed callback; the tapped card then shows the outcome.

Platform-free: the customer's name comes from a ContactDirectory that bot/ registers (for WeCom, the
externalcontact/get API), so nothing here talks HTTP itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from handlers.commands import CommandCall, router
from handlers.context import Context
from handlers.event_model import (
    TRANSFER_LIMIT,
    TRANSFER_REFUSED,
    CardTapped,
    CustomerAdded,
    CustomerDeletedRep,
    CustomerRemovedByRep,
    CustomerTransferFailed,
    CustomerTransferred,
)
from handlers.events import on_event
from handlers.leads_intake import lead_from_channel
from handlers.model import Card, InboundMessage
from handlers.risk import CONTACT_DELETED
from handlers.timefmt import local_time
from storage import audit, directory, risks
from storage import customers as repo
from storage.models import AuditEntry, Customer, User

log = logging.getLogger(__name__)

# While the directory is unreachable the event is retried (the inbound job backs off); after this long
# the customer is created under a placeholder name instead, so a slow API never loses a contact.
LOOKUP_GIVE_UP_AFTER = timedelta(minutes=5)
FAIL_REASONS = {TRANSFER_REFUSED: "客户拒绝了接替", TRANSFER_LIMIT: "接替成员的客户数已达上限"}


@dataclass(frozen=True)
class ExternalContact:
    """A customer contact as the platform knows it."""

    external_id: str
    name: str
    corp_name: str = ""  # the company, as the rep noted it or the contact's WeCom corp says

    @property
    def customer_name(self) -> str:
        return self.corp_name or self.name


class ContactDirectoryUnavailable(Exception):
    """The platform's contact API cannot be reached right now."""


class ContactDirectory(Protocol):
    """Looks up external contacts (implemented in bot/; it may talk HTTP, so it is called from jobs)."""

    def lookup(self, external_id: str, rep_platform_id: str) -> ExternalContact | None:
        """The contact as seen by that rep; None if unknown; raise ContactDirectoryUnavailable."""
        ...


_directories: dict[str, ContactDirectory] = {}


def register_directory(platform: str, contact_directory: ContactDirectory | None) -> None:
    if contact_directory is None:
        _directories.pop(platform, None)
    else:
        _directories[platform] = contact_directory


# ---------------------------------------------------------------------------------------------- added


@on_event(CustomerAdded)
def contact_added(ctx: Context, change: CustomerAdded) -> list[Card]:
    """A rep added a customer: link to the customer already known by this contact (or company name),
    else create one owned by the rep."""
    # Look the name up before touching the session: no database lock is held during the HTTP call.
    contact = _lookup(ctx, change)
    rep = directory.by_platform_id(ctx.session, change.platform, change.rep)
    actor = _actor(rep, change.platform, change.rep)
    customer = repo.by_identity(ctx.session, change.platform, change.customer)
    if customer is None and contact is not None and contact.corp_name:
        customer = repo.by_name(ctx.session, contact.corp_name)
    created = customer is None
    if customer is None:
        name = contact.customer_name if contact else placeholder_name(change.customer)
        customer = repo.create(ctx.session, name, rep.id if rep else None, ctx.now, actor)
        if rep is None:  # added by someone salesbot does not know: nobody owns it, anyone may claim it
            audit.set_field(ctx.session, customer, "status", "public", ctx.now, actor, "added by a non-member")
    _remember_identity(ctx, customer, change, contact, actor)
    _take_ownership(ctx, customer, rep, actor)
    repo.link_conversation(ctx.session, change.platform, change.customer, customer, "single",
                           contact.name if contact else None, ctx.now, actor)
    if created and rep is not None and change.state:
        return lead_from_channel(ctx, customer, rep, change.state)
    if not created or rep is None:
        return []
    lines = [f"已为新联系人建立客户档案：{customer.name}（负责人：{rep.name}）。",
             "与该客户的会话将记到这个客户名下。"]
    if contact is None:
        lines.append("暂时无法获取联系人名称，请稍后在后台修改客户名称。")
    return [Card(title="新客户已建档", lines=tuple(lines), recipients=(rep.id,), key=f"customer:{customer.id}")]


def _lookup(ctx: Context, change: CustomerAdded) -> ExternalContact | None:
    found = _directories.get(change.platform)
    if found is None:
        return _named_by_the_event(change)
    try:
        return found.lookup(change.customer, change.rep) or _named_by_the_event(change)
    except ContactDirectoryUnavailable as exc:
        if ctx.now - change.time < LOOKUP_GIVE_UP_AFTER:
            raise  # the inbound job retries the event with backoff
        log.warning("contact %s: directory still unavailable (%s); using a placeholder name",
                    change.customer, exc)
        return _named_by_the_event(change)


def _named_by_the_event(change: CustomerAdded) -> ExternalContact | None:
    return ExternalContact(change.customer, change.display_name) if change.display_name else None


def placeholder_name(external_id: str) -> str:
    return f"未命名客户（{external_id[-6:]}）"


def _remember_identity(ctx: Context, customer: Customer, change: CustomerAdded, contact: ExternalContact | None,
                       actor: str) -> None:
    if repo.by_identity(ctx.session, change.platform, change.customer) is not None:
        return
    repo.add_identity(ctx.session, customer, change.platform, change.customer, contact.name if contact else None)
    audit.record(ctx.session, ctx.now, actor, "customer", customer.id, "identity", None,
                 f"{change.platform}:{change.customer}")


def _take_ownership(ctx: Context, customer: Customer, rep: User | None, actor: str) -> None:
    if rep is None:
        return
    if customer.owner_id is None or customer.status == "public":
        repo.change_owner(ctx.session, customer, rep.id, ctx.now, actor, "added the customer's contact")
        audit.set_field(ctx.session, customer, "status", "active", ctx.now, actor)
    elif customer.owner_id != rep.id:
        # Someone else owns the customer: remember that this rep follows them too (a transfer or a
        # colleague); ownership moves only through transfer events or an explicit claim.
        audit.record(ctx.session, ctx.now, actor, "customer", customer.id, "follower", None, rep.id,
                     "added the customer's contact")


# ---------------------------------------------------------------------------------------------- removed


@on_event(CustomerDeletedRep)
def customer_removed_rep(ctx: Context, change: CustomerDeletedRep) -> list[Card]:
    """The customer deleted the rep — a risk the rep's manager should hear about."""
    rep = directory.by_platform_id(ctx.session, change.platform, change.rep)
    customer = repo.by_identity(ctx.session, change.platform, change.customer)
    actor = _actor(rep, change.platform, change.rep)
    name = customer.name if customer else placeholder_name(change.customer)
    rep_name = rep.name if rep else change.rep
    code = ""
    if customer is not None:
        audit.record(ctx.session, ctx.now, actor, "customer", customer.id, "contact_deleted_by_customer",
                     None, rep.id if rep else change.rep)
        # on the customer's record like any other risk (客户 lists it; it counts among earlier cases)
        event = risks.add_event(ctx.session, customer_id=customer.id, rule=CONTACT_DELETED,
                                label="客户删除联系人", severity="high", keyword="删除联系人",
                                text=f"客户把 {rep_name} 从联系人中删除了", message_id=None, at=ctx.now)
        code = f"　编号：{event.code}"
    manager = directory.manager_of(ctx.session, rep)
    recipients = (manager.id,) if manager else ((rep.id,) if rep else ())
    return [Card(
        title=f"风险：客户删除了{rep_name}",
        lines=(f"客户「{name}」把 {rep_name} 从联系人中删除了，可能已不再考虑合作。{code}",
               "建议：尽快通过其他渠道了解原因，必要时由主管或其他同事重新联系客户。"),
        fields=(("客户", name), ("销售", rep_name), ("时间", local_time(change.time, "%Y-%m-%d %H:%M"))),
        recipients=recipients, key=f"customer:{customer.id}" if customer else None,
        dedupe_key=f"contact-deleted:{change.dedupe_key}",
    )]


@on_event(CustomerRemovedByRep)
def rep_removed_customer(ctx: Context, change: CustomerRemovedByRep | CustomerTransferred) -> list[Card]:
    """The rep deleted the customer, or a transfer moved the customer away."""
    rep_id = change.rep if isinstance(change, CustomerRemovedByRep) else change.from_rep
    rep = directory.by_platform_id(ctx.session, change.platform, rep_id)
    customer = repo.by_identity(ctx.session, change.platform, change.customer)
    if customer is None or rep is None:
        return []
    actor = _actor(rep, change.platform, rep_id)
    if customer.owner_id != rep.id:
        audit.record(ctx.session, ctx.now, actor, "customer", customer.id, "follower", rep.id, None,
                     "deleted the customer's contact")
        return []
    if isinstance(change, CustomerTransferred):
        heir_user = directory.by_platform_id(ctx.session, change.platform, change.to_rep) if change.to_rep else None
        heir = heir_user.id if heir_user else _latest_follower(ctx, customer, exclude=rep.id)
        repo.change_owner(ctx.session, customer, heir, ctx.now, actor, "contact transferred")
        return []
    repo.change_owner(ctx.session, customer, None, ctx.now, actor, "the owner deleted the customer's contact")
    audit.set_field(ctx.session, customer, "status", "public", ctx.now, actor, "back to the public pool")
    return []


@on_event(CustomerTransferFailed)
def transfer_failed(ctx: Context, change: CustomerTransferFailed) -> list[Card]:
    """The customer was not handed over; ownership stays, the manager hears why."""
    rep = directory.by_platform_id(ctx.session, change.platform, change.rep)
    customer = repo.by_identity(ctx.session, change.platform, change.customer)
    reason = FAIL_REASONS.get(change.reason, change.reason or "未知原因")
    if customer is not None:
        audit.record(ctx.session, ctx.now, _actor(rep, change.platform, change.rep), "customer", customer.id,
                     "transfer_failed", None, rep.id if rep else change.rep, reason)
    manager = directory.manager_of(ctx.session, rep)
    if manager is None:
        return []
    name = customer.name if customer else placeholder_name(change.customer)
    return [Card(title="客户接替失败", lines=(f"客户「{name}」未能转交给 {rep.name if rep else change.rep}：{reason}。",
                                        "客户仍由原负责人跟进，如需转交请重新发起。"),
                 recipients=(manager.id,), dedupe_key=f"transfer-failed:{change.dedupe_key}")]


def _latest_follower(ctx: Context, customer: Customer, exclude: str) -> str | None:
    stmt = (select(AuditEntry.after).where(AuditEntry.entity == "customer", AuditEntry.entity_id == str(customer.id),
                                           AuditEntry.field == "follower", AuditEntry.after.is_not(None))
            .order_by(AuditEntry.id.desc()))
    for user_id in ctx.session.scalars(stmt):
        if user_id != exclude and directory.get_user(ctx.session, user_id) is not None:
            return user_id
    return None


def _actor(rep: User | None, platform: str, rep_platform_id: str) -> str:
    return rep.id if rep else f"{platform}:{rep_platform_id}"


on_event(CustomerTransferred)(rep_removed_customer)


# ---------------------------------------------------------------------------------------------- card taps


@on_event(CardTapped)
def on_card_tapped(ctx: Context, event: CardTapped) -> list[Card]:
    """Run a tapped button's command as the tapper; the tapper's reply becomes an update of the card."""
    msg = InboundMessage(platform=event.platform, sender=event.actor, conversation=event.actor, text=event.command,
                         msg_id=f"tap:{event.dedupe_key}", time=event.time)
    cards = _run_command(ctx, msg)
    update_ref = event.update_ref
    if update_ref is None:
        return cards
    tapper = msg.reply_address()
    for i, card in enumerate(cards):
        if card.reply_to == tapper and card.update_ref is None:
            cards[i] = replace(card, update_ref=update_ref)
            break
    return cards


def _run_command(ctx: Context, msg: InboundMessage) -> list[Card]:
    parsed = router.parse(msg.text) if msg.sender else None
    if parsed is None:
        return [Card(title="按钮已失效", lines=("这个按钮对应的操作已不可用，请直接发送命令。",),
                     reply_to=msg.reply_address())]
    command, args = parsed
    user = directory.by_platform_id(ctx.session, msg.platform, msg.sender)
    return list(router.dispatch(CommandCall(ctx, msg, user, command.name, args)))
