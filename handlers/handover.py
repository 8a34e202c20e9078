"""Hand-over when someone leaves (or `交接 <离职人> <接手人>` by their manager).

Everything of the old owner's moves in one transaction: customers, open to-dos, held leads, and the
approval steps waiting on them (to the approver's manager, else the successor, with a note). The
successor gets a 《客户交接清单》 card. On WeCom the external contacts and customer group chats are
handed over too, through a CustomerTransfer that bot/ registers (离职继承 for a member who left, 在职继承
for one who stays); the platform settles a transfer later, so each one is stored and polled by
`run_transfers` (a tick check) until it is done or failed, and failures are reported. Everything is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update

from handlers import outbox
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.leads import give
from handlers.model import Card
from handlers.orgchart import managers_of
from handlers.timefmt import local_time
from storage import audit, directory, risks
from storage import customers as customer_repo
from storage import leads as lead_repo
from storage.models import (
    ApprovalStep,
    Conversation,
    Customer,
    CustomerIdentity,
    PlatformTransfer,
    Todo,
    User,
)

log = logging.getLogger(__name__)

POLL_EVERY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)  # WeCom completes a takeover after 24 h; past this it is reported
STATUS_TEXT = {1: "已完成", 2: "等待接替", 3: "客户拒绝了接替", 4: "接替成员的客户数已达上限", 5: "无接替记录"}
TRANSFER_ERRORS = {40096: "客户不存在或不属于交接人", 40097: "该客户已在交接中", 40098: "接替成员尚未实名认证",
                   40100: "客户 90 天内已被转接两次", 84074: "接替成员不在客户联系范围", 90500: "群主已离职，请用离职继承"}


class TransferUnavailable(Exception):
    """The platform's transfer API cannot be reached right now."""


class CustomerTransfer(Protocol):
    """A platform's customer hand-over (implemented in bot/; it talks HTTP)."""

    def transfer_customers(self, handover: str, takeover: str, external_ids: Sequence[str],
                           resigned: bool) -> dict[str, int]:
        """Start transfers; the platform's errcode per external id (0: started)."""
        ...

    def transfer_groupchats(self, chat_ids: Sequence[str], new_owner: str, resigned: bool) -> dict[str, int]:
        """Hand group chats over; the errcode per chat id (0: done)."""
        ...

    def transfer_status(self, handover: str, takeover: str, resigned: bool) -> dict[str, int]:
        """The status per external id of transfers between these two (1 done, 2 waiting, 3 refused, 4 limit)."""
        ...


_transfers: dict[str, CustomerTransfer] = {}


def register_transfer(platform: str, transfer: CustomerTransfer | None) -> None:
    if transfer is None:
        _transfers.pop(platform, None)
    else:
        _transfers[platform] = transfer


@dataclass
class Moved:
    customers: list[Customer]
    todos: list[Todo]
    steps: list[tuple[ApprovalStep, User]]
    leads: int
    transfers: int = 0


def hand_over_departed(ctx: Context, user_id: str, now: datetime | None = None, successor_id: str | None = None,
                       actor: str = "salesbot") -> list[Card]:
    """A member left (no successor named: they are marked inactive and the rule picks one), or their
    manager hands them over: everything they own moves to the successor. `now` defaults to ctx.now."""
    if now is not None and now != ctx.now:
        ctx = Context(ctx.session, ctx.settings, now)
    departed = directory.get_user(ctx.session, user_id)
    if departed is None:
        return []
    left = departed.active is False or successor_id is None
    if left and departed.active:
        audit.set_field(ctx.session, departed, "active", False, ctx.now, actor, "left the organisation")
    successor = directory.get_user(ctx.session, successor_id) if successor_id else choose_successor(ctx, departed)
    if successor is None:
        log.warning("hand-over of %s: nobody to hand over to", user_id)
        return []
    moved = _move_everything(ctx, departed, successor, actor)
    moved.transfers = _queue_transfers(ctx, departed, successor, moved.customers, resigned=left)
    audit.record(ctx.session, ctx.now, actor, "user", departed.id, "handed_over_to", None, successor.id,
                 f"{len(moved.customers)} customers, {len(moved.todos)} to-dos, {len(moved.steps)} approval steps")
    return [checklist_card(ctx, departed, successor, moved), *_step_notes(ctx, departed, moved)]


def choose_successor(ctx: Context, departed: User) -> User | None:
    """The assignment rule for a leaver: the least-loaded eligible teammate, else their manager, else an admin."""
    boss = next((m for m in managers_of(ctx, departed) if m.active), None)
    cfg = ctx.settings.leads
    mates = [u for u in (directory.reports_of(ctx.session, boss.id) if boss else [])
             if u.active and u.id != departed.id and u.manager_id == departed.manager_id and u.role in cfg.roles
             and not cfg.rep(u.id).on_leave]
    if mates:
        load = lead_repo.loads(ctx.session, [u.id for u in mates])
        return min(mates, key=lambda u: (sum(load.get(u.id, (0, 0))), u.id))
    return boss or next(iter(directory.with_role(ctx.session, "admin")), None)


def _move_everything(ctx: Context, departed: User, successor: User, actor: str) -> Moved:
    note = f"hand-over from {departed.id}"
    customers = list(ctx.session.scalars(select(Customer).where(Customer.owner_id == departed.id,
                                                                Customer.status != "closed").order_by(Customer.id)))
    for customer in customers:
        customer_repo.change_owner(ctx.session, customer, successor.id, ctx.now, actor, note)
    todos = list(ctx.session.scalars(select(Todo).where(Todo.owner_id == departed.id, Todo.status == "open")
                                     .order_by(Todo.id)))
    for todo in todos:
        audit.set_field(ctx.session, todo, "owner_id", successor.id, ctx.now, actor, note)
    leads = lead_repo.held_by(ctx.session, departed.id)
    for lead in leads:
        outbox.post(ctx, give(ctx, lead, successor.id, actor,
                              {**lead.reason, "rule": "handover", "picked": successor.id,
                               "why": f"{departed.name} 交接给 {successor.name}"}))
    return Moved(customers, todos, _move_steps(ctx, departed, successor, actor), len(leads))


def _move_steps(ctx: Context, departed: User, successor: User, actor: str) -> list[tuple[ApprovalStep, User]]:
    """A departed approver's open steps go to their manager (who has the authority), else the successor."""
    boss = next((m for m in managers_of(ctx, departed) if m.active), None)
    to = boss or successor
    steps = list(ctx.session.scalars(select(ApprovalStep).where(ApprovalStep.approver_id == departed.id,
                                                                ApprovalStep.status.in_(("pending", "waiting")))))
    moved: list[tuple[ApprovalStep, User]] = []
    for step in steps:
        text = f"原审批人 {departed.name} 已交接，改由 {to.name} 审批"
        ctx.session.execute(update(ApprovalStep).where(ApprovalStep.id == step.id)
                            .values(approver_id=to.id, note=((step.note + "；") if step.note else "") + text)
                            .execution_options(synchronize_session=False))
        audit.record(ctx.session, ctx.now, actor, "approval_step", step.id, "approver_id", departed.id, to.id, text)
        ctx.session.refresh(step)
        moved.append((step, to))
    return moved


def _step_notes(ctx: Context, departed: User, moved: Moved) -> list[Card]:
    cards = []
    for step, to in moved.steps:
        if step.status != "pending":
            continue
        cards.append(Card(title=f"审批转给你：A{step.approval_id}",
                          lines=(f"原审批人 {departed.name} 已交接，这一步改由你审批。",
                                 f"发送「审批 A{step.approval_id}」查看，「同意 A{step.approval_id}」或「驳回 A{step.approval_id} <原因>」。"),
                          recipients=(to.id,), key=f"A{step.approval_id}",
                          dedupe_key=f"handover:{departed.id}:step:{step.id}"))
    return cards


# ---------------------------------------------------------------------------------------- the checklist


def checklist_card(ctx: Context, departed: User, successor: User, moved: Moved) -> Card:
    """《客户交接清单》: every customer with last contact, open to-dos, approvals, risks, recent words."""
    lines = [f"{departed.name} 的工作已交接给你：{len(moved.customers)} 个客户、{len(moved.todos)} 项待办、"
             f"{moved.leads} 条线索、{len(moved.steps)} 个审批步骤。"]
    for customer in moved.customers[:30]:
        lines += _customer_lines(ctx, customer)
    if len(moved.customers) > 30:
        lines.append(f"……另有 {len(moved.customers) - 30} 个客户，发送「客户」逐个查看。")
    lines += [f"待办 {t.code}：{t.title}" for t in moved.todos if t.customer_id is None][:10]
    if moved.transfers:
        lines.append(f"企业微信的 {moved.transfers} 个客户/客户群转接已提交，客户同意后完成；未成功的会另行通知你。")
    return Card(title=f"《客户交接清单》{departed.name} → {successor.name}", lines=tuple(lines),
                recipients=(successor.id,), key=f"handover:{departed.id}",
                dedupe_key=f"handover:{departed.id}:{successor.id}:{local_time(ctx.now, '%Y%m%d%H%M')}")


def _customer_lines(ctx: Context, customer: Customer) -> list[str]:
    last = local_time(customer.last_activity_at, "%Y-%m-%d") if customer.last_activity_at else "无"
    todos = customer_repo.open_todos(ctx.session, customer.id)
    approvals = customer_repo.open_approvals(ctx.session, customer.id)
    open_risks = [r for r in risks.for_customer(ctx.session, customer.id) if r.status == "open"]
    out = [f"【{customer.name}】最近联系 {last}；待办 {len(todos)}；审批中 {len(approvals)}；风险 {len(open_risks)}"]
    out += [f"  · 待办 {t.code} {t.title}" for t in todos[:3]]
    out += [f"  · 审批 {a.code} ￥{a.amount:,.0f}" for a in approvals[:3]]
    out += [f"  · 风险 {r.code} {r.label}「{r.keyword}」" for r in open_risks[:3]]
    for message in reversed(customer_repo.timeline(ctx.session, customer.id, 3)):
        who = "客户" if message.from_customer else message.sender
        out.append(f"  · {local_time(message.sent_at)} {who}：{message.text[:40]}")
    return out


# ---------------------------------------------------------------------------------- platform transfers
#
# The hand-over itself only queues the platform transfers: it runs inside the inbound job's transaction,
# and an HTTP call (which may fetch a token in its own transaction) must not run while that transaction
# holds the database (SQLite has one writer). `run_transfers`, a tick check, commits what it read before
# each round of calls.


def _queue_transfers(ctx: Context, departed: User, successor: User, customers: list[Customer],
                     resigned: bool) -> int:
    queued = 0
    for platform in set(_transfers) & (outbox.enabled_platforms(ctx) | {"console"}):
        handover = directory.platform_id_of(ctx.session, departed, platform)
        takeover = directory.platform_id_of(ctx.session, successor, platform)
        if not handover or not takeover:
            continue
        ids = [c.id for c in customers]
        externals = ctx.session.scalars(select(CustomerIdentity.external_id).where(
            CustomerIdentity.platform == platform, CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id))
        chats = ctx.session.scalars(select(Conversation.conversation_id).where(
            Conversation.platform == platform, Conversation.kind == "group", Conversation.customer_id.in_(ids))
            .order_by(Conversation.id))
        for kind, found in (("customer", list(externals)), ("groupchat", list(chats))):
            for external_id in found:
                ctx.session.add(PlatformTransfer(
                    platform=platform, kind=kind, external_id=external_id, handover_id=handover,
                    takeover_id=takeover, successor_id=successor.id, resigned=resigned, status="queued",
                    created_at=ctx.now, next_check_at=ctx.now))
                queued += 1
    return queued


@dataclass(frozen=True)
class _Row:
    id: int
    platform: str
    kind: str
    external_id: str
    handover_id: str
    takeover_id: str
    successor_id: str | None
    resigned: bool
    created_at: datetime

    @property
    def batch(self) -> tuple[str, str, str, str, bool]:
        return self.platform, self.kind, self.handover_id, self.takeover_id, self.resigned


def _due_rows(ctx: Context, status: str) -> list[_Row]:
    rows = ctx.session.scalars(select(PlatformTransfer).where(
        PlatformTransfer.status == status, PlatformTransfer.next_check_at <= ctx.now).order_by(PlatformTransfer.id)
        .limit(500))
    return [_Row(r.id, r.platform, r.kind, r.external_id, r.handover_id, r.takeover_id, r.successor_id, r.resigned,
                 r.created_at) for r in rows]


def run_transfers(ctx: Context) -> list[str]:
    """Start queued transfers and poll started ones; failures go to the successor and their manager."""
    queued, started = _due_rows(ctx, "queued"), _due_rows(ctx, "started")
    if not queued and not started:
        return []
    ctx.session.commit()  # no transaction open during the HTTP calls below
    outcome: dict[int, tuple[str, str | None]] = {}
    for batch in dict.fromkeys(r.batch for r in queued):
        outcome.update(_start_batch(batch, [r for r in queued if r.batch == batch]))
    for batch in dict.fromkeys(r.batch for r in started):
        outcome.update(_poll_batch(ctx, batch, [r for r in started if r.batch == batch]))
    return _settle(ctx, [*queued, *started], outcome)


def _start_batch(batch: tuple[str, str, str, str, bool], rows: list[_Row]) -> dict[int, tuple[str, str | None]]:
    platform, kind, handover, takeover, resigned = batch
    transfer = _transfers.get(platform)
    if transfer is None:
        return {}
    out: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(rows), 100):  # WeCom takes at most 100 customers or chats a call
        chunk = rows[start:start + 100]
        ids = [r.external_id for r in chunk]
        try:
            codes = (transfer.transfer_customers(handover, takeover, ids, resigned) if kind == "customer"
                     else transfer.transfer_groupchats(ids, takeover, resigned))
        except TransferUnavailable:
            continue  # still queued: the next tick tries again
        for r in chunk:
            code = codes.get(r.external_id, 0)
            done = "started" if kind == "customer" else "done"
            out[r.id] = ("failed", TRANSFER_ERRORS.get(code, f"错误码 {code}")) if code else (done, None)
    return out


def _poll_batch(ctx: Context, batch: tuple[str, str, str, str, bool],
                rows: list[_Row]) -> dict[int, tuple[str, str | None]]:
    platform, _kind, handover, takeover, resigned = batch
    transfer = _transfers.get(platform)
    if transfer is None:
        return {}
    try:
        statuses = transfer.transfer_status(handover, takeover, resigned)
    except TransferUnavailable:
        return {}
    out: dict[int, tuple[str, str | None]] = {}
    for r in rows:
        status = statuses.get(r.external_id, 2)
        if status == 1:
            out[r.id] = ("done", None)
        elif status != 2 or ctx.now - r.created_at >= GIVE_UP_AFTER:
            out[r.id] = ("failed", STATUS_TEXT.get(status, str(status)))
    return out


def _settle(ctx: Context, rows: list[_Row], outcome: dict[int, tuple[str, str | None]]) -> list[str]:
    lines: list[str] = []
    failed: dict[str | None, list[str]] = {}
    for r in rows:
        status, detail = outcome.get(r.id, (None, None))
        row = ctx.session.get(PlatformTransfer, r.id)
        assert row is not None
        if status is None:
            row.next_check_at = ctx.now + (POLL_EVERY if row.status == "started" else timedelta(minutes=1))
            continue
        row.status, row.detail = status, detail
        row.next_check_at = ctx.now + POLL_EVERY if status == "started" else None
        audit.record(ctx.session, ctx.now, "salesbot", f"{r.platform}_{r.kind}", r.external_id, "transfer",
                     r.handover_id, r.takeover_id, status if detail is None else f"{status}: {detail}")
        lines.append(f"{r.platform} {r.kind} {r.external_id}: {status}")
        if status == "failed":
            what = "客户" if r.kind == "customer" else "客户群"
            failed.setdefault(r.successor_id, []).append(f"· {what} {r.external_id}：{detail}")
    for successor_id, items in failed.items():
        successor = directory.get_user(ctx.session, successor_id)
        boss = next((m for m in managers_of(ctx, successor) if m.active), None)
        outbox.post(ctx, [Card(title=f"客户转接失败 {len(items)} 个", lines=("以下客户未能在平台上转接，请人工处理：", *items),
                               recipients=tuple(u.id for u in (successor, boss) if u),
                               dedupe_key=f"transfer-failed:{successor_id}:{local_time(ctx.now, '%Y%m%d%H%M')}")])
    return lines


# ---------------------------------------------------------------------------------------------- command


@router.command("交接", "交接 <离职人> <接手人>", "主管把一位成员的客户、待办、审批和线索交接给另一位成员")
def hand_over(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 2:
        raise UsageError("请写上交接人和接手人，例如「交接 张三 李四」。")
    departed, successor = (_one(call, w) for w in words)
    user = call.user
    assert user is not None
    if not (user.role in ("admin", "director") or user in managers_of(call.ctx, departed)):
        return [call.reply("无法交接", f"只有 {departed.name} 的主管（或总监、管理员）可以交接。")]
    if not successor.active or successor.id == departed.id:
        return [call.reply("无法交接", "接手人必须是另一位在职成员。")]
    cards = hand_over_departed(call.ctx, departed.id, call.ctx.now, successor.id, actor=user.id)
    return [*cards, call.reply(f"已把 {departed.name} 的工作交接给 {successor.name}", "接手人已收到《客户交接清单》。")]


def _one(call: CommandCall, text: str) -> User:
    found = directory.find_users(call.ctx.session, text)
    if len(found) != 1:
        raise UsageError(f"找不到唯一的成员「{text}」，请写成员的 id 或姓名。")
    return found[0]
