"""The commands that change an approval: 报价 / 合同 / 重新提交 / 同意 / 驳回 / 撤回.

Who may decide is taken from `CommandCall.user`, which the pipeline resolved from the platform's
verified sender id; nothing typed in the message can name a different person."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from handlers.amounts import AmountError, format_amount, looks_like_amount, parse_amount
from handlers.approvals.calls import load, member, refusals_answered
from handlers.approvals.chain import Refusal
from handlers.approvals.flow import advance, outcome_card, progress_card, submit
from handlers.approvals.text import (
    KIND_NAMES,
    STATUS_NAMES,
    approver_label,
    approvers_of,
    ordinal,
    summary_lines,
    title_of,
    user_name,
)
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.model import Card
from handlers.names import typed_customer_name
from handlers.opportunities import deals
from handlers.opportunities.core import Refused
from handlers.opportunities.core import code_id as opportunity_code
from storage import approvals as repo
from storage import audit
from storage import customers as customer_repo
from storage.models import Approval, ApprovalStep, Customer
from storage.states import ApprovalStatus, StepStatus


def split_submission(words: Sequence[str]) -> tuple[str, Decimal, str]:
    """(customer name, amount, note) from `<客户名> <金额> [备注]`; the name may contain spaces."""
    if not words:
        raise UsageError("请写上客户名和金额。")
    for i in range(1, len(words)):
        if looks_like_amount(words[i]):
            name = typed_customer_name(" ".join(words[:i]), "报价 华为技术有限公司 680000")
            return name, parse_amount(words[i]), " ".join(words[i + 1:])
    if len(words) == 1:
        raise UsageError("请写上客户名。" if looks_like_amount(words[0]) else "请写上金额。")
    for word in words[1:]:
        if re.match(r"^[-+￥¥]?\d", word):  # meant as an amount, but not a valid one: say why
            try:
                parse_amount(word)
            except AmountError as exc:
                raise UsageError(str(exc)) from None
    raise UsageError("没有找到金额。金额可以写 680000、680,000、68万、6.8万 或 ￥680000。")


def _customer(call: CommandCall, word: str, name: str, amount: Decimal, note: str) -> Customer:
    """The customer with exactly this name; otherwise ask which one (never create one here)."""
    found = customer_repo.by_name(call.ctx.session, name)
    if found is not None:
        return found
    alike = customer_repo.similar(call.ctx.session, name)
    tail = f" {format_amount(amount)[1:].replace(',', '')}" + (f" {note}" if note else "")
    if alike:
        raise Refusal("请确认客户", f"没有名为「{name}」的客户。你是指以下哪一个？",
                      *[f"· {c.name} → 发送「{word} {c.name}{tail}」" for c in alike])
    raise Refusal("没有找到客户", f"没有名为「{name}」的客户。",
                  f"请先发送「关联 {name}」建立客户，再提交{word}审批。")


def _submit_command(call: CommandCall, kind: str) -> list[Card]:
    submitter = member(call)
    words = call.words()
    if words and repo.parse_code(words[0]) is not None:
        return _resubmit(call, kind, words)
    if words and opportunity_code(words[0]) is not None:
        return _submit_for_opportunity(call, kind, words)
    name, amount, note = split_submission(words)
    customer = _customer(call, KIND_NAMES[kind], name, amount, note)
    approval, cards = submit(call.ctx, kind=kind, customer=customer, submitter=submitter, amount=amount,
                             note=note)
    return [_submitted_reply(call, approval), *cards]


def _submit_for_opportunity(call: CommandCall, kind: str, words: Sequence[str]) -> list[Card]:
    """`报价 O12 680000 [备注]`: the approval belongs to the opportunity (and its customer)."""
    try:
        opp, customer = deals.for_submission(call.ctx, member(call), words[0])
    except Refused as exc:
        raise Refusal(exc.title, *exc.lines) from None
    if len(words) < 2 or not looks_like_amount(words[1]):
        raise UsageError(f"请写上金额，例如：{KIND_NAMES[kind]} {opp.code} 680000。")
    approval, cards = submit(call.ctx, kind=kind, customer=customer, submitter=member(call),
                             amount=parse_amount(words[1]), note=" ".join(words[2:]), opportunity_id=opp.id)
    return [_submitted_reply(call, approval), *cards]


def _submitted_reply(call: CommandCall, approval: Approval) -> Card:
    current = next((s for s in approval.steps if s.status == StepStatus.PENDING), None)
    lines = summary_lines(call.ctx, approval)
    if current is not None:
        lines.append(f"当前：{approver_label(call.ctx, current)} 审批（第 {ordinal(approval, current)} 步）。")
        lines.append(f"审批人处理后会通知你；发送「撤回 {approval.code}」可撤回。")
        return call.reply(f"已提交{title_of(approval)}", *lines, key=approval.code)
    return call.reply(f"{title_of(approval)} {STATUS_NAMES[approval.status]}", *lines, key=approval.code)


def _resubmit(call: CommandCall, kind: str | None, words: Sequence[str]) -> list[Card]:
    """`报价 A17 <新金额> [备注]` / `重新提交 A17 [金额] [备注]`: a new version of a returned approval."""
    submitter = member(call)
    original = load(call, words[0])
    word = KIND_NAMES[original.kind]
    if kind is not None and kind != original.kind:
        raise Refusal("无法重新提交", f"{original.code} 是{word}审批，请发送「{word} {original.code} <金额>」。")
    if original.submitter_id != submitter.id:
        raise Refusal("无法重新提交", f"{original.code} 不是你提交的，只有提交人可以重新提交。")
    if original.status not in (ApprovalStatus.REJECTED, ApprovalStatus.WITHDRAWN, ApprovalStatus.RETURNED):
        raise Refusal("无法重新提交", f"{original.code} {STATUS_NAMES[original.status]}，只有被驳回或已撤回的审批可以重新提交。")
    newer = repo.newer_version(call.ctx.session, original)
    if newer is not None:
        raise Refusal("无法重新提交", f"{original.code} 已经有新版本 {newer.code}，请在最新版本上修改。")
    amount, note = original.amount, original.note
    rest = list(words[1:])
    if rest and looks_like_amount(rest[0]):
        amount = parse_amount(rest.pop(0))
    if rest:
        note = " ".join(rest)
    customer = call.ctx.session.get(Customer, original.customer_id)
    assert customer is not None
    approval, cards = submit(call.ctx, kind=original.kind, customer=customer, submitter=submitter,
                             amount=amount, note=note, previous=original, opportunity_id=original.opportunity_id)
    return [_submitted_reply(call, approval), *cards]


@router.command("报价", "报价 <客户名> <金额> [备注]", "提交报价审批（金额可写 680000、68万；「报价 O12 <金额>」属于商机 O12）；驳回后「报价 A17 <新金额>」重新提交")
@refusals_answered
def submit_quote(call: CommandCall) -> list[Card]:
    return _submit_command(call, "quote")


@router.command("合同", "合同 <客户名> <金额> [备注]", "提交合同审批（可写商机编号）；驳回后「合同 A17 <新金额>」重新提交")
@refusals_answered
def submit_contract(call: CommandCall) -> list[Card]:
    return _submit_command(call, "contract")


@router.command("重新提交", "重新提交 <编号> [金额] [备注]", "修改被驳回的审批后重新提交（生成新版本）")
@refusals_answered
def resubmit(call: CommandCall) -> list[Card]:
    words = call.words()
    if not words or repo.parse_code(words[0]) is None:
        raise UsageError("请写上要重新提交的审批编号，例如：重新提交 A17 650000。")
    return _resubmit(call, None, words)


def _decidable(call: CommandCall, code: str) -> tuple[Approval, ApprovalStep]:
    """The approval and its current step, if this user may decide it now; else a Refusal."""
    user = member(call)
    approval = load(call, code)
    if approval.status != ApprovalStatus.PENDING:
        raise Refusal("无需处理", f"{approval.code} {STATUS_NAMES[approval.status]}，无需再处理。")
    step = repo.current_step(call.ctx.session, approval.id)
    if step is None:
        raise Refusal("无需处理", f"{approval.code} 当前没有待审批的步骤。")
    if approval.submitter_id == user.id:
        raise Refusal("无权审批", f"{approval.code} 是你自己提交的，不能自己审批。",
                      f"当前审批人：{approver_label(call.ctx, step)}。")
    allowed = step.approver_id == user.id if step.approver_id else user.role == step.approver_role
    earlier = None if allowed else repo.has_approved(call.ctx.session, approval.id, user.id)
    if earlier is not None:  # a second tap on an old card's button
        raise Refusal("无需处理", f"你已在第 {earlier.position} 步同意 {approval.code}，"
                                 f"现在等 {approver_label(call.ctx, step)} 审批。")
    if not allowed or not user.active:
        raise Refusal("无权审批", f"你不是 {approval.code} 当前步骤的审批人，不能处理。",
                      f"当前审批人：{approver_label(call.ctx, step)}。")
    return approval, step


def _already_decided(approval: Approval) -> Refusal:
    return Refusal("无需处理", f"{approval.code} 的这一步刚刚已被处理。")


@router.command("同意", "同意 <编号>", "同意一项报价/合同审批，例如：同意 A17")
@refusals_answered
def approve(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 1:
        raise UsageError("请写上一个审批编号，例如：同意 A17。")
    ctx, user = call.ctx, member(call)
    approval, step = _decidable(call, words[0])
    if not repo.decide_step(ctx.session, step.id, StepStatus.APPROVED, user.id, ctx.now):
        raise _already_decided(approval)
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, f"step{step.position}", StepStatus.PENDING,
                 StepStatus.APPROVED)
    ctx.session.refresh(approval)
    cards = advance(ctx, approval)
    if approval.status == ApprovalStatus.PENDING:
        cards.append(progress_card(ctx, approval, step))
    reply = call.reply(f"已同意 {approval.code}", *summary_lines(ctx, approval), _after_approve(ctx, approval))
    return [reply, *cards]


def _after_approve(ctx: Context, approval: Approval) -> str:
    nxt = next((s for s in approval.steps if s.status == StepStatus.PENDING), None)
    if nxt is None:
        return "审批已全部通过，已通知提交人。"
    return f"已转 {approver_label(ctx, nxt)} 审批（第 {ordinal(approval, nxt)} 步）。"


@router.command("驳回", "驳回 <编号> <原因>", "驳回一项审批，必须写原因，例如：驳回 A17 低于底价")
@refusals_answered
def reject(call: CommandCall) -> list[Card]:
    words = call.words()
    if not words:
        raise UsageError("请写上审批编号和驳回原因，例如：驳回 A17 低于底价。")
    if len(words) < 2:
        raise UsageError(f"驳回必须写明原因，例如：驳回 {words[0]} 低于底价。")
    ctx, user = call.ctx, member(call)
    reason = " ".join(words[1:])
    approval, step = _decidable(call, words[0])
    if not repo.decide_step(ctx.session, step.id, StepStatus.REJECTED, user.id, ctx.now, reason):
        raise _already_decided(approval)
    repo.close(ctx.session, approval.id, ApprovalStatus.REJECTED, ctx.now, returned=True)
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, f"step{step.position}", StepStatus.PENDING,
                 StepStatus.REJECTED, reason)
    ctx.session.refresh(approval)
    reply = call.reply(f"已驳回 {approval.code}", *summary_lines(ctx, approval), f"原因：{reason}",
                       "已通知提交人。")
    return [reply, outcome_card(ctx, approval)]


@router.command("撤回", "撤回 <编号>", "撤回自己提交、尚未审批完的审批")
@refusals_answered
def withdraw(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 1:
        raise UsageError("请写上一个审批编号，例如：撤回 A17。")
    ctx, user = call.ctx, member(call)
    approval = load(call, words[0])
    if approval.submitter_id != user.id:
        raise Refusal("无法撤回", f"{approval.code} 不是你提交的，只有提交人可以撤回。")
    step = repo.current_step(ctx.session, approval.id)
    if approval.status != ApprovalStatus.PENDING or not repo.close(ctx.session, approval.id, ApprovalStatus.WITHDRAWN, ctx.now):
        raise Refusal("无法撤回", f"{approval.code} {STATUS_NAMES[approval.status]}，不能撤回。")
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, "status", ApprovalStatus.PENDING, ApprovalStatus.WITHDRAWN)
    ctx.session.refresh(approval)
    cards = [call.reply(f"已撤回 {approval.code}", *summary_lines(ctx, approval),
                        f"修改后可发送「{KIND_NAMES[approval.kind]} {approval.code} <金额> [备注]」重新提交。")]
    if step is not None:
        cards.append(Card(title=f"{approval.code} 已撤回", lines=(
            f"{user_name(ctx, user.id)} 撤回了{title_of(approval)}，无需再处理。", *summary_lines(ctx, approval)),
            recipients=tuple(approvers_of(ctx, step, approval)), key=approval.code,
            dedupe_key=f"approval:{approval.code}:withdrawn"))
    return cards


# 补充: the current approver asks for more material without rejecting. The approval goes back to the
# submitter (status returned, counted in times_returned); resubmitting answers it.
@router.command("补充", "补充 <编号> <需要什么>", "审批人要求补充材料：退回提交人（不算驳回），重新提交即答复")
@refusals_answered
def ask_for_more(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) < 2:
        raise UsageError("请写上审批编号和需要补充的内容，例如：补充 A17 请附上成本测算表。")
    ctx, user = call.ctx, member(call)
    asked = " ".join(words[1:])
    approval, step = _decidable(call, words[0])
    if not repo.close(ctx.session, approval.id, ApprovalStatus.RETURNED, ctx.now, returned=True):
        raise _already_decided(approval)
    step.reason, step.decided_by, step.decided_at = asked, user.id, ctx.now
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, "status", ApprovalStatus.PENDING,
                 ApprovalStatus.RETURNED, f"补充：{asked}")
    ctx.session.refresh(approval)
    word = KIND_NAMES[approval.kind]
    told = Card(title=f"{title_of(approval)} 需要补充材料", lines=(
        f"{user.name} 请你补充：{asked}", *summary_lines(ctx, approval), *exchange_lines(ctx, approval),
        f"补充后发送「{word} {approval.code} [金额] <补充说明>」重新提交（不算驳回）。"),
        recipients=(approval.submitter_id,), key=approval.code, dedupe_key=f"approval:{approval.code}:returned")
    reply = call.reply(f"已退回 {approval.code} 补充材料", *summary_lines(ctx, approval), f"需要补充：{asked}",
                       f"已通知 {user_name(ctx, approval.submitter_id)}；重新提交后会再交给审批人。")
    return [reply, told]


def exchange_lines(ctx: Context, approval: Approval) -> list[str]:
    """What was asked of each earlier version and what the next version brought back, oldest first."""
    versions: list[Approval] = []
    current: Approval | None = approval
    while current is not None:
        versions.insert(0, current)
        current = ctx.session.get(Approval, current.previous_id) if current.previous_id else None
    lines = []
    for older, newer in zip(versions, [*versions[1:], None], strict=True):
        step = next((s for s in older.steps if s.reason and s.decided_by), None)
        if older.status != ApprovalStatus.RETURNED or step is None:
            continue
        answer = f"{newer.code} 补充：{newer.note or '（未写说明）'}" if newer is not None else "尚未补充"
        lines.append(f"· {older.code} 要求补充：{step.reason}；{answer}")
    return (["补充记录：", *lines]) if lines else []
