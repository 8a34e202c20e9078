"""Quote and contract approvals in the chat: 报价 / 合同 / 同意 / 驳回 / 撤回 / 审批 / 看板 / 重新提交.

Who may decide is taken from `CommandCall.user`, which the pipeline resolved from the platform's
verified sender id; nothing typed in the message can name a different person. Steps come from the
[[approvals]] chain of the kind, resolved against the org directory when the approval is submitted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import wraps

from bot.config import ApprovalConfig, ApprovalStepConfig
from handlers.amounts import AmountError, format_amount, looks_like_amount, parse_amount
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.model import Button, Card
from handlers.names import typed_customer_name
from handlers.timefmt import local_time
from storage import approvals as repo
from storage import audit, directory
from storage import customers as customer_repo
from storage.models import Approval, ApprovalStep, Customer, User

KIND_NAMES = {"quote": "报价", "contract": "合同"}
STATUS_NAMES = {"pending": "审批中", "approved": "已通过", "rejected": "已驳回", "withdrawn": "已撤回"}
STEP_NAMES = {"waiting": "未开始", "pending": "待审批", "approved": "已同意", "rejected": "已驳回",
              "skipped": "已跳过", "cancelled": "已取消"}
ROLE_NAMES = {"rep": "销售", "manager": "经理", "director": "总监", "finance": "财务", "admin": "管理员"}
# Cards show Beijing time; China has no daylight saving, so a fixed offset is exact.


class Refusal(Exception):
    """The command is understood but cannot be done for this user; the reply says why (Chinese)."""

    def __init__(self, title: str, *lines: str) -> None:
        super().__init__(title)
        self.title = title
        self.lines = lines


def _refusals_answered(run: Callable[[CommandCall], list[Card]]) -> Callable[[CommandCall], list[Card]]:
    @wraps(run)
    def wrapper(call: CommandCall) -> list[Card]:
        try:
            return run(call)
        except Refusal as exc:
            return [call.reply(exc.title, *exc.lines)]

    return wrapper


# ------------------------------------------------------------------------------------------- text



def duration(delta: timedelta) -> str:
    """25 小时 / 2 天 3 小时 / 40 分钟."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    return f"{hours} 小时" if hours else f"{minutes} 分钟"


def user_name(ctx: Context, user_id: str | None) -> str:
    user = directory.get_user(ctx.session, user_id)
    return user.name if user else (user_id or "—")


def role_name(role: str) -> str:
    return ROLE_NAMES.get(role, role)


def approver_label(ctx: Context, step: ApprovalStep) -> str:
    if step.approver_id:
        return user_name(ctx, step.approver_id)
    return f"{role_name(step.approver_role or '')}（任一人）"


def spec_label(ctx: Context, spec: str) -> str:
    """How a configured approver reads in Chinese: 直属主管, 上 2 级主管, 任一财务, 赵六."""
    kind, _, value = spec.partition(":")
    if kind == "manager":
        return "直属主管" if value in ("", "1") else f"上 {value} 级主管"
    if kind == "role":
        return f"任一{role_name(value)}"
    return user_name(ctx, value) if kind == "user" else spec


def approvers_of(ctx: Context, step: ApprovalStep, approval: Approval) -> list[str]:
    """Directory ids of everyone who may decide this step."""
    if step.approver_id:
        return [step.approver_id]
    holders = directory.with_role(ctx.session, step.approver_role or "")
    return [u.id for u in holders if u.id != approval.submitter_id]


def customer_name(ctx: Context, approval: Approval) -> str:
    customer = ctx.session.get(Customer, approval.customer_id)
    return customer.name if customer else f"客户#{approval.customer_id}"


def title_of(approval: Approval) -> str:
    return f"{KIND_NAMES.get(approval.kind, approval.kind)}审批 {approval.code}"


def summary_lines(ctx: Context, approval: Approval) -> list[str]:
    """Customer, amount, submitter (and note, version) of an approval, one line each."""
    lines = [f"客户：{customer_name(ctx, approval)}", f"金额：{format_amount(approval.amount)}",
             f"提交人：{user_name(ctx, approval.submitter_id)}"]
    if approval.note:
        lines.append(f"备注：{approval.note}")
    if approval.previous_id:
        lines.append(f"版本：第 {approval.version} 版（{_previous_outcome(ctx, approval)}）")
    return lines


def _previous_outcome(ctx: Context, approval: Approval) -> str:
    previous = ctx.session.get(Approval, approval.previous_id)
    if previous is None:
        return "上一版已删除"
    text = f"上一版 A{previous.id} {STATUS_NAMES.get(previous.status, previous.status)}"
    rejected = next((s for s in previous.steps if s.status == "rejected"), None)
    if rejected is not None and rejected.reason:
        text += f"：{rejected.reason}"
    return text


def ordinal(approval: Approval, step: ApprovalStep) -> str:
    """「2/3」: the step's place among the steps that are not skipped."""
    counted = [s for s in approval.steps if s.status != "skipped"]
    index = next((i for i, s in enumerate(counted) if s.id == step.id), 0)
    return f"{index + 1}/{len(counted)}"


def decision_lines(ctx: Context, approval: Approval) -> list[str]:
    lines = []
    for step in approval.steps:
        if step.status in ("approved", "rejected"):
            line = f"· {user_name(ctx, step.decided_by)} {STEP_NAMES[step.status]}（{local_time(step.decided_at)}）"
            lines.append(line + (f"：{step.reason}" if step.reason else ""))
    return lines


# ------------------------------------------------------------------------------------ resolution


@dataclass(frozen=True)
class Assignee:
    """Who decides a step: one user, or anyone holding a role; `note` explains a fallback."""

    user_id: str | None = None
    role: str | None = None
    note: str | None = None


def resolve(ctx: Context, spec: str, submitter: User) -> Assignee | None:
    """The approver named by a spec (manager, manager:N, role:<r>, user:<id>), never the submitter."""
    session = ctx.session
    if spec == "manager" or spec.startswith("manager:"):
        levels = int(spec.partition(":")[2] or 1)
        boss = directory.manager_of(session, submitter, levels)
        return Assignee(boss.id) if boss is not None and boss.active and boss.id != submitter.id else None
    if spec.startswith("role:"):
        holders = [u for u in directory.with_role(session, spec[5:]) if u.id != submitter.id]
        return Assignee(role=spec[5:]) if holders else None
    if spec.startswith("user:"):
        user = directory.get_user(session, spec[5:])
        return Assignee(user.id) if user is not None and user.active and user.id != submitter.id else None
    return None


def resolve_or_fallback(ctx: Context, spec: str, submitter: User) -> Assignee | None:
    """As `resolve`; an approver that cannot be found goes to the submitter's manager, with a note."""
    found = resolve(ctx, spec, submitter)
    if found is not None:
        return found
    boss = resolve(ctx, "manager", submitter)
    if boss is not None:
        return Assignee(boss.user_id, note=f"按配置「{spec}」找不到审批人，改由提交人的直属主管审批")
    admins = resolve(ctx, "role:admin", submitter)
    if admins is not None:
        return Assignee(role="admin", note=f"按配置「{spec}」找不到审批人，提交人也没有主管，改由管理员审批")
    return None


def applies(step: ApprovalStepConfig, amount: Decimal) -> str | None:
    """None when the step's amount condition holds, else why it is skipped."""
    if step.min_amount is not None and amount < Decimal(str(step.min_amount)):
        return f"金额低于 {format_amount(step.min_amount)}，本步跳过"
    if step.max_amount is not None and amount > Decimal(str(step.max_amount)):
        return f"金额高于 {format_amount(step.max_amount)}，本步跳过"
    return None


@dataclass(frozen=True)
class PlannedStep:
    spec: str
    sla_hours: int
    assignee: Assignee | None
    skip_note: str | None


def plan(ctx: Context, chain: ApprovalConfig, amount: Decimal, submitter: User) -> list[PlannedStep]:
    """The chain's steps for this amount; raises Refusal when a needed step has nobody to decide it."""
    planned = []
    for step in chain.steps:
        sla = step.sla_hours or chain.sla_hours or 24
        skip = applies(step, amount)
        assignee = None if skip else resolve_or_fallback(ctx, step.approver, submitter)
        if skip is None and assignee is None:
            raise Refusal("无法提交", f"审批步骤「{step.approver}」找不到审批人，请联系管理员检查审批配置。")
        planned.append(PlannedStep(step.approver, sla, assignee, skip))
    return planned


# ------------------------------------------------------------------------------------------ flow


def submit(ctx: Context, *, kind: str, customer: Customer, submitter: User, amount: Decimal, note: str,
           previous: Approval | None = None) -> tuple[Approval, list[Card]]:
    """Create an approval (or a new version of `previous`) and start its first step."""
    chain = ctx.settings.approval(kind)
    if chain is None:
        raise Refusal("无法提交", f"管理员还没有配置「{KIND_NAMES[kind]}」的审批流程。")
    steps = plan(ctx, chain, amount, submitter)
    approval = repo.create(ctx.session, kind=kind, customer_id=customer.id, submitter_id=submitter.id,
                           amount=amount, note=note, now=ctx.now, previous=previous)
    for position, p in enumerate(steps, start=1):
        who = p.assignee or Assignee()
        repo.add_step(ctx.session, approval, position, p.spec, approver_id=who.user_id, approver_role=who.role,
                      sla_hours=p.sla_hours, status="skipped" if p.skip_note else "waiting",
                      note=p.skip_note or who.note)
    audit.record(ctx.session, ctx.now, submitter.id, "approval", approval.id, "submitted", None,
                 f"{kind} {amount}", f"version {approval.version}")
    ctx.session.refresh(approval)
    return approval, advance(ctx, approval)


def advance(ctx: Context, approval: Approval) -> list[Card]:
    """Start the next waiting step (skipping people who already approved), or finish as approved."""
    for step in approval.steps:
        if step.status != "waiting":
            continue
        earlier = repo.has_approved(ctx.session, approval.id, step.approver_id) if step.approver_id else None
        if earlier is not None:
            repo.skip_step(step, f"{user_name(ctx, step.approver_id)} 已在第 {earlier.position} 步同意，本步跳过")
            continue
        repo.start_step(ctx.session, step, ctx.now)
        return [ask_card(ctx, approval, step)]
    repo.close(ctx.session, approval.id, "approved", ctx.now)
    ctx.session.refresh(approval)
    return [outcome_card(ctx, approval)]


def ask_card(ctx: Context, approval: Approval, step: ApprovalStep) -> Card:
    """The card asking the current step's approver(s) to decide."""
    code = approval.code
    lines = [f"{user_name(ctx, approval.submitter_id)} 提交的{KIND_NAMES[approval.kind]}等你审批"
             f"（第 {ordinal(approval, step)} 步）。", *summary_lines(ctx, approval)]
    earlier = decision_lines(ctx, approval)
    if earlier:
        lines += ["此前的审批：", *earlier]
    if step.note:
        lines.append(f"说明：{step.note}")
    if step.approver_role:
        lines.append(f"本步由任一{role_name(step.approver_role)}审批。")
    lines += [f"请在 {step.sla_hours} 小时内处理。",
              f"同意请回复「同意 {code}」；驳回请回复「驳回 {code} <原因>」（驳回必须写原因）。"]
    return Card(title=f"{title_of(approval)}（第 {ordinal(approval, step)} 步）", lines=tuple(lines),
                buttons=(Button("同意", f"同意 {code}"),), recipients=tuple(approvers_of(ctx, step, approval)),
                key=code, dedupe_key=f"approval:{code}:step{step.position}:ask")


def outcome_card(ctx: Context, approval: Approval) -> Card:
    """Tells the submitter how the approval ended (已通过 / 已驳回)."""
    status = STATUS_NAMES[approval.status]
    lines = [f"你提交的{title_of(approval)} {status}。", *summary_lines(ctx, approval)]
    decisions = decision_lines(ctx, approval)
    if decisions:
        lines += ["审批记录：", *decisions]
    elif approval.status == "approved":
        lines.append("按审批规则，本次金额不需要审批，已自动通过。")
    if approval.status == "rejected":
        word = KIND_NAMES[approval.kind]
        lines.append(f"修改后发送「{word} {approval.code} <新金额> [备注]」重新提交（生成新版本）。")
    return Card(title=f"{title_of(approval)} {status}", lines=tuple(lines), recipients=(approval.submitter_id,),
                key=approval.code, dedupe_key=f"approval:{approval.code}:{approval.status}")


def progress_card(ctx: Context, approval: Approval, decided: ApprovalStep) -> Card:
    """Tells the submitter a step was approved and who decides next."""
    nxt = next((s for s in approval.steps if s.status == "pending"), None)
    lines = [f"{user_name(ctx, decided.decided_by)} 已同意你提交的{title_of(approval)}"
             f"（第 {ordinal(approval, decided)} 步）。"]
    if nxt is not None:
        lines.append(f"下一步：{approver_label(ctx, nxt)} 审批（第 {ordinal(approval, nxt)} 步）。")
    return Card(title=f"{approval.code} 第 {ordinal(approval, decided)} 步已同意", lines=tuple(lines),
                recipients=(approval.submitter_id,), key=approval.code,
                dedupe_key=f"approval:{approval.code}:step{decided.position}:approved")


# ------------------------------------------------------------------------------------ commands


def _member(call: CommandCall) -> User:
    if call.user is None:  # the router already refuses strangers; this keeps the type checker honest
        raise Refusal("无法执行", "你不在 salesbot 的通讯录中。")
    return call.user


def _load(call: CommandCall, code: str) -> Approval:
    approval = repo.by_code(call.ctx.session, code)
    if approval is None:
        raise Refusal("没有找到审批", f"没有编号为「{code}」的审批，请检查编号（形如 A17）。")
    return approval


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
    submitter = _member(call)
    words = call.words()
    if words and repo.parse_code(words[0]) is not None:
        return _resubmit(call, kind, words)
    name, amount, note = split_submission(words)
    customer = _customer(call, KIND_NAMES[kind], name, amount, note)
    approval, cards = submit(call.ctx, kind=kind, customer=customer, submitter=submitter, amount=amount,
                             note=note)
    return [_submitted_reply(call, approval), *cards]


def _submitted_reply(call: CommandCall, approval: Approval) -> Card:
    current = next((s for s in approval.steps if s.status == "pending"), None)
    lines = summary_lines(call.ctx, approval)
    if current is not None:
        lines.append(f"当前：{approver_label(call.ctx, current)} 审批（第 {ordinal(approval, current)} 步）。")
        lines.append(f"审批人处理后会通知你；发送「撤回 {approval.code}」可撤回。")
        return call.reply(f"已提交{title_of(approval)}", *lines, key=approval.code)
    return call.reply(f"{title_of(approval)} {STATUS_NAMES[approval.status]}", *lines, key=approval.code)


def _resubmit(call: CommandCall, kind: str | None, words: Sequence[str]) -> list[Card]:
    """`报价 A17 <新金额> [备注]` / `重新提交 A17 [金额] [备注]`: a new version of a returned approval."""
    submitter = _member(call)
    original = _load(call, words[0])
    word = KIND_NAMES[original.kind]
    if kind is not None and kind != original.kind:
        raise Refusal("无法重新提交", f"{original.code} 是{word}审批，请发送「{word} {original.code} <金额>」。")
    if original.submitter_id != submitter.id:
        raise Refusal("无法重新提交", f"{original.code} 不是你提交的，只有提交人可以重新提交。")
    if original.status not in ("rejected", "withdrawn"):
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
                             amount=amount, note=note, previous=original)
    return [_submitted_reply(call, approval), *cards]


@router.command("报价", "报价 <客户名> <金额> [备注]", "提交报价审批（金额可写 680000、68万）；驳回后「报价 A17 <新金额>」重新提交")
@_refusals_answered
def submit_quote(call: CommandCall) -> list[Card]:
    return _submit_command(call, "quote")


@router.command("合同", "合同 <客户名> <金额> [备注]", "提交合同审批；驳回后「合同 A17 <新金额>」重新提交")
@_refusals_answered
def submit_contract(call: CommandCall) -> list[Card]:
    return _submit_command(call, "contract")


@router.command("重新提交", "重新提交 <编号> [金额] [备注]", "修改被驳回的审批后重新提交（生成新版本）")
@_refusals_answered
def resubmit(call: CommandCall) -> list[Card]:
    words = call.words()
    if not words or repo.parse_code(words[0]) is None:
        raise UsageError("请写上要重新提交的审批编号，例如：重新提交 A17 650000。")
    return _resubmit(call, None, words)


def _decidable(call: CommandCall, code: str) -> tuple[Approval, ApprovalStep]:
    """The approval and its current step, if this user may decide it now; else a Refusal."""
    user = _member(call)
    approval = _load(call, code)
    if approval.status != "pending":
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
@_refusals_answered
def approve(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 1:
        raise UsageError("请写上一个审批编号，例如：同意 A17。")
    ctx, user = call.ctx, _member(call)
    approval, step = _decidable(call, words[0])
    if not repo.decide_step(ctx.session, step.id, "approved", user.id, ctx.now):
        raise _already_decided(approval)
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, f"step{step.position}", "pending",
                 "approved")
    ctx.session.refresh(approval)
    cards = advance(ctx, approval)
    if approval.status == "pending":
        cards.append(progress_card(ctx, approval, step))
    reply = call.reply(f"已同意 {approval.code}", *summary_lines(ctx, approval), _after_approve(ctx, approval))
    return [reply, *cards]


def _after_approve(ctx: Context, approval: Approval) -> str:
    nxt = next((s for s in approval.steps if s.status == "pending"), None)
    if nxt is None:
        return "审批已全部通过，已通知提交人。"
    return f"已转 {approver_label(ctx, nxt)} 审批（第 {ordinal(approval, nxt)} 步）。"


@router.command("驳回", "驳回 <编号> <原因>", "驳回一项审批，必须写原因，例如：驳回 A17 低于底价")
@_refusals_answered
def reject(call: CommandCall) -> list[Card]:
    words = call.words()
    if not words:
        raise UsageError("请写上审批编号和驳回原因，例如：驳回 A17 低于底价。")
    if len(words) < 2:
        raise UsageError(f"驳回必须写明原因，例如：驳回 {words[0]} 低于底价。")
    ctx, user = call.ctx, _member(call)
    reason = " ".join(words[1:])
    approval, step = _decidable(call, words[0])
    if not repo.decide_step(ctx.session, step.id, "rejected", user.id, ctx.now, reason):
        raise _already_decided(approval)
    repo.close(ctx.session, approval.id, "rejected", ctx.now, returned=True)
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, f"step{step.position}", "pending",
                 "rejected", reason)
    ctx.session.refresh(approval)
    reply = call.reply(f"已驳回 {approval.code}", *summary_lines(ctx, approval), f"原因：{reason}",
                       "已通知提交人。")
    return [reply, outcome_card(ctx, approval)]


@router.command("撤回", "撤回 <编号>", "撤回自己提交、尚未审批完的审批")
@_refusals_answered
def withdraw(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 1:
        raise UsageError("请写上一个审批编号，例如：撤回 A17。")
    ctx, user = call.ctx, _member(call)
    approval = _load(call, words[0])
    if approval.submitter_id != user.id:
        raise Refusal("无法撤回", f"{approval.code} 不是你提交的，只有提交人可以撤回。")
    step = repo.current_step(ctx.session, approval.id)
    if approval.status != "pending" or not repo.close(ctx.session, approval.id, "withdrawn", ctx.now):
        raise Refusal("无法撤回", f"{approval.code} {STATUS_NAMES[approval.status]}，不能撤回。")
    audit.record(ctx.session, ctx.now, user.id, "approval", approval.id, "status", "pending", "withdrawn")
    ctx.session.refresh(approval)
    cards = [call.reply(f"已撤回 {approval.code}", *summary_lines(ctx, approval),
                        f"修改后可发送「{KIND_NAMES[approval.kind]} {approval.code} <金额> [备注]」重新提交。")]
    if step is not None:
        cards.append(Card(title=f"{approval.code} 已撤回", lines=(
            f"{user_name(ctx, user.id)} 撤回了{title_of(approval)}，无需再处理。", *summary_lines(ctx, approval)),
            recipients=tuple(approvers_of(ctx, step, approval)), key=approval.code,
            dedupe_key=f"approval:{approval.code}:withdrawn"))
    return cards


@router.command("审批", "审批 [编号]", "列出等你审批的事项；带编号时查看该审批的详情和历史版本")
@_refusals_answered
def list_approvals(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) > 1:
        raise UsageError("「审批」后面最多写一个编号，例如：审批 A17。")
    if words:
        return [_history(call, words[0])]
    ctx, user = call.ctx, _member(call)
    lines = []
    for step, approval in repo.waiting_for(ctx.session, user):
        waited = duration(ctx.now - (step.started_at or approval.created_at))
        lines.append(f"· {approval.code} {KIND_NAMES[approval.kind]} {customer_name(ctx, approval)} "
                     f"{format_amount(approval.amount)}，{user_name(ctx, approval.submitter_id)} 提交，已等 {waited}"
                     f" → 「同意 {approval.code}」/「驳回 {approval.code} <原因>」")
    mine = repo.open_by_submitters(ctx.session, [user.id])
    out = [f"等你审批：{len(lines)} 项", *lines] if lines else ["目前没有等你审批的事项。"]
    if mine:
        out.append(f"你提交、仍在审批中的：{len(mine)} 项")
        out += [f"· {a.code} {customer_name(ctx, a)} {format_amount(a.amount)}，当前："
                f"{_current_label(ctx, a)}" for a in mine]
    return [call.reply("审批", *out)]


def _current_label(ctx: Context, approval: Approval) -> str:
    step = next((s for s in approval.steps if s.status == "pending"), None)
    return approver_label(ctx, step) if step else "—"


def may_view(ctx: Context, user: User, approval: Approval) -> bool:
    """Submitter, anyone in the chain or above the submitter, admins and directors."""
    if user.role in ("admin", "director") or user.id == approval.submitter_id:
        return True
    for version in repo.lineage(ctx.session, approval):
        for step in version.steps:
            if user.id in (step.approver_id, step.decided_by) or (step.approver_role and step.approver_role == user.role):
                return True
    submitter = directory.get_user(ctx.session, approval.submitter_id)
    return any(u.id == user.id for u in _chain_above(ctx, submitter))


def _chain_above(ctx: Context, user: User | None) -> list[User]:
    found: list[User] = []
    current = directory.manager_of(ctx.session, user)
    while current is not None and current not in found:
        found.append(current)
        current = directory.manager_of(ctx.session, current)
    return found


def _history(call: CommandCall, code: str) -> Card:
    ctx, user = call.ctx, _member(call)
    approval = _load(call, code)
    if not may_view(ctx, user, approval):
        raise Refusal("无权查看", f"你与 {approval.code} 无关，不能查看。")
    lines = summary_lines(ctx, approval)
    lines.append(f"状态：{STATUS_NAMES[approval.status]}　被退回：{approval.times_returned} 次")
    versions = repo.lineage(ctx.session, approval)
    for version in versions:
        mark = "（当前查看）" if version.id == approval.id else ""
        lines.append(f"— {version.code} 第 {version.version} 版{mark}：{format_amount(version.amount)}，"
                     f"{STATUS_NAMES[version.status]}，提交于 {local_time(version.created_at)}")
        lines += [f"　{_step_line(ctx, version, s)}" for s in version.steps]
    return call.reply(f"{title_of(approval)}（共 {len(versions)} 个版本）", *lines, key=approval.code)


def _step_line(ctx: Context, approval: Approval, step: ApprovalStep) -> str:
    status = STEP_NAMES.get(step.status, step.status)
    if step.status in ("approved", "rejected"):
        text = f"第 {step.position} 步 {user_name(ctx, step.decided_by)} {status}（{local_time(step.decided_at)}）"
        return text + (f"：{step.reason}" if step.reason else "")
    if step.status == "skipped":
        return f"第 {step.position} 步 {spec_label(ctx, step.approver_spec)} {status}：{step.note or ''}"
    text = f"第 {step.position} 步 {approver_label(ctx, step)} {status}"
    if step.status == "pending" and step.started_at:
        text += f"，已等 {duration(ctx.now - step.started_at)}"
    return text


@router.command("看板", "看板", "主管查看团队进行中的审批：当前审批人、停留时长、退回次数")
@_refusals_answered
def board(call: CommandCall) -> list[Card]:
    if call.args:
        raise UsageError("「看板」后面不用写内容。")
    ctx, user = call.ctx, _member(call)
    if user.role == "admin":
        team: list[str] | None = None
    else:
        team = [u.id for u in directory.reports_of(ctx.session, user.id)]
        if not team:
            raise Refusal("审批看板", "你没有下属，看板只对主管开放。", "查看等你审批的事项请发「审批」。")
    rows = [(a, repo.current_step(ctx.session, a.id)) for a in repo.open_by_submitters(ctx.session, team)]
    if not rows:
        return [call.reply("审批看板", "团队目前没有进行中的审批。")]
    rows.sort(key=lambda row: _waiting_since(*row))
    return [call.reply("审批看板", f"团队进行中的审批：{len(rows)} 项（停留最久的在前）",
                       *[_board_line(ctx, a, s) for a, s in rows])]


def _waiting_since(approval: Approval, step: ApprovalStep | None) -> datetime:
    return (step.started_at if step else None) or approval.created_at


def _board_line(ctx: Context, approval: Approval, step: ApprovalStep | None) -> str:
    head = (f"· {approval.code} {KIND_NAMES[approval.kind]} {customer_name(ctx, approval)} "
            f"{format_amount(approval.amount)}（{user_name(ctx, approval.submitter_id)}）")
    if step is None:
        return head
    waited = ctx.now - _waiting_since(approval, step)
    overdue = "，已超时" if waited > timedelta(hours=step.sla_hours) else ""
    return (f"{head} 当前：{approver_label(ctx, step)}（第 {ordinal(approval, step)} 步），"
            f"停留 {duration(waited)}{overdue}，退回 {approval.times_returned} 次")
