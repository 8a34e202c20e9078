"""The opportunity commands: 商机 (open / list / show), 阶段, 证据, 成员, 变更, 赢单, 输单."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from handlers.amounts import AmountError, format_amount, looks_like_amount, parse_amount
from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.model import Card
from handlers.opportunities.core import (
    FIELD_NAMES,
    FLAG_NAMES,
    ROLE_FIELDS,
    Move,
    Refused,
    code_id,
    evidence_kinds,
    how_to_add,
    is_manager_of_owner,
    load,
    may_work_on,
    missing_evidence,
    move_stage,
    open_opportunity,
    outcome_stage,
    stage_named,
)
from handlers.orgchart import manager_at, user_name
from handlers.timefmt import local_time
from storage import customers as customer_repo
from storage import directory
from storage import opportunities as repo
from storage.models import Customer, Message, Opportunity, User

LIST_LIMIT = 20
TIMELINE_LIMIT = 15
OVERRIDE_WORD = "强制"
CATEGORIES = ("技术", "商务", "法务")
RAISERS = ("客户决策人", "使用部门", "IT")
IMPACTS = ("交付周期", "报价", "合同条款")


def refusals(run: Callable[[CommandCall], list[Card]]) -> Callable[[CommandCall], list[Card]]:
    """A Refused raised by the command becomes the reply saying why."""

    @wraps(run)
    def wrapper(call: CommandCall) -> list[Card]:
        try:
            return run(call)
        except Refused as exc:
            return [call.reply(exc.title, *exc.lines)]

    return wrapper


def _member(call: CommandCall) -> User:
    if call.user is None:  # the router refuses strangers already
        raise Refused("无法执行", "你不在 salesbot 的通讯录中。")
    return call.user


def _workable(call: CommandCall, word: str) -> Opportunity:
    opp = load(call.ctx, word)
    if not may_work_on(call.ctx, _member(call), opp):
        raise Refused("无权操作", f"{opp.code} 不是你参与的商机，只有商机成员和负责人的上级可以操作。")
    return opp


def _open(opp: Opportunity) -> None:
    if opp.status != repo.OPEN:
        raise Refused("商机已结束", f"{opp.code} 已{'赢单' if opp.status == repo.WON else '输单'}，不能再修改。")


# ---------------------------------------------------------------------------------------------- 商机


@router.command("商机", "商机 [<客户名> <名称> [金额] | O12 [金额|预计成交 <值>]]",
                "创建商机（商机 华为 数据平台 68万）；「商机」列出我的商机；「商机 O12」查看详情和时间线；"
                "「商机 O12 金额 72万」「商机 O12 预计成交 2026-12-31」修改")
@refusals
def opportunity_command(call: CommandCall) -> list[Card]:
    words = call.words()
    if not words:
        return list_mine(call)
    if len(words) == 1 and code_id(words[0]) is not None:
        return show(call, load(call.ctx, words[0]))
    if code_id(words[0]) is not None:
        return edit(call, words)
    return create(call, words)


EDITABLE = {"金额": "amount", "预计成交": "expected_close_at"}


def edit(call: CommandCall, words: list[str]) -> list[Card]:
    """`商机 O12 金额 72万` / `商机 O12 预计成交 2026-12-31`: audited like every change."""
    if len(words) != 3 or words[1] not in EDITABLE:
        raise UsageError("可以修改：「商机 O12 金额 <金额>」或「商机 O12 预计成交 <YYYY-MM-DD>」。")
    opp = _workable(call, words[0])
    _open(opp)
    field = EDITABLE[words[1]]
    value: Any = _amount(words[2]) if field == "amount" else _date(words[2])
    if not repo.change(call.ctx.session, opp, field, value, call.ctx.now, _member(call).id):
        return [call.reply("无需修改", f"{opp.code} 的{words[1]}已经是 {words[2]}。")]
    return [call.reply("商机已更新", f"{opp.code} 的{words[1]}已改为 {words[2]}。", key=opp.code)]


def _date(word: str) -> datetime:
    try:
        day = date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"日期「{word[:20]}」写法不对，请写成 2026-12-31。") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def create(call: CommandCall, words: list[str]) -> list[Card]:
    user = _member(call)
    customer, rest = _customer_and_rest(call, words)
    amount: Decimal | None = None
    if len(rest) > 1 and looks_like_amount(rest[-1]):
        amount = _amount(rest.pop())
    if not rest:
        raise UsageError("请写上商机名称，例如：商机 华为 数据平台 68万。")
    opp = open_opportunity(call.ctx, customer, " ".join(rest), amount, user)
    return [call.reply(f"已创建商机 {opp.code}", *_summary(call.ctx, opp),
                       f"推进阶段：「阶段 {opp.code} <阶段>」；添加证据：「证据 {opp.code} <类型>」；"
                       f"查看：「商机 {opp.code}」。", key=opp.code)]


def _amount(word: str) -> Decimal:
    try:
        return parse_amount(word)
    except AmountError as exc:
        raise UsageError(str(exc)) from None


def _customer_and_rest(call: CommandCall, words: list[str]) -> tuple[Customer, list[str]]:
    """The customer named by the longest leading words that are a customer's name, and the rest."""
    for i in range(len(words) - 1, 0, -1):
        found = customer_repo.by_name(call.ctx.session, " ".join(words[:i]))
        if found is not None:
            return found, list(words[i:])
    if len(words) < 2:
        raise UsageError("请写上客户名和商机名称。")
    name = words[0]
    alike = customer_repo.similar(call.ctx.session, name)
    tail = " ".join(words[1:])
    if alike:
        raise Refused("请确认客户", f"没有名为「{name}」的客户。你是指以下哪一个？",
                      *[f"· {c.name} → 发送「商机 {c.name} {tail}」" for c in alike])
    raise Refused("没有找到客户", f"没有名为「{name}」的客户。", f"请先发送「关联 {name}」建立客户，再创建商机。")


def list_mine(call: CommandCall) -> list[Card]:
    user = _member(call)
    mine = repo.for_owner(call.ctx.session, user.id)
    lines = [_line(call.ctx, o) for o in mine[:LIST_LIMIT]] or ["你还没有商机。发送「商机 <客户名> <名称> [金额]」创建。"]
    if len(mine) > LIST_LIMIT:
        lines.append(f"……另有 {len(mine) - LIST_LIMIT} 个未列出")
    return [call.reply(f"我的商机（{len(mine)} 个）", *lines)]


def _line(ctx: Context, opp: Opportunity) -> str:
    customer = ctx.session.get(Customer, opp.customer_id)
    line = f"· {opp.code} {opp.name} · {customer.name if customer else ''} · {opp.stage}"
    if opp.amount is not None:
        line += f" · {format_amount(opp.amount)}"
    if opp.flag:
        line += f"（{FLAG_NAMES[opp.flag]}灯）"
    return line


def _summary(ctx: Context, opp: Opportunity) -> list[str]:
    customer = ctx.session.get(Customer, opp.customer_id)
    lines = [f"商机：{opp.code} {opp.name}", f"客户：{customer.name if customer else opp.customer_id}",
             f"阶段：{opp.stage}（{local_time(opp.entered_stage_at)} 进入）" + (
                 f" · {FLAG_NAMES[opp.flag]}灯" if opp.flag else "")]
    if opp.amount is not None:
        lines.append(f"金额：{format_amount(opp.amount)}")
    if opp.expected_close_at is not None:
        lines.append(f"预计成交：{opp.expected_close_at:%Y-%m-%d}")
    people = [f"{FIELD_NAMES[f]} {user_name(ctx, getattr(opp, f))}" for f in ROLE_FIELDS.values() if getattr(opp, f)]
    if people:
        lines.append("成员：" + "、".join(people))
    return lines


def show(call: CommandCall, opp: Opportunity) -> list[Card]:
    ctx = call.ctx
    if not may_work_on(ctx, _member(call), opp):
        raise Refused("无权查看", f"{opp.code} 不是你参与的商机。")
    lines = _summary(ctx, opp)
    evidence = repo.evidence(ctx.session, opp)
    if evidence:
        lines.append("证据：")
        lines += [f"· {e.kind}：{e.file_name or e.note or '（链接/图片）'}（{local_time(e.added_at)}）" for e in evidence]
    changes = repo.changes(ctx.session, opp)
    if changes:
        lines.append(f"需求变更（{len(changes)} 项）：")
        lines += [f"· {c.category}/{c.raised_by}/{c.impact}：{c.description}（{local_time(c.recorded_at)}）"
                  for c in changes]
    lines.append("时间线：")
    history = repo.history(ctx.session, opp)
    lines += [_history_line(ctx, h) for h in history[-TIMELINE_LIMIT:]]
    return [call.reply(f"商机 {opp.code}", *lines, key=opp.code)]


def _history_line(ctx: Context, entry: Any) -> str:
    what = FIELD_NAMES.get(entry.field, entry.field)
    who = user_name(ctx, entry.actor) if directory.get_user(ctx.session, entry.actor) else entry.actor
    before = "" if entry.before in (None, "") else f"{entry.before} → "
    note = f"（{entry.note}）" if entry.note else ""
    return f"· {local_time(entry.at)} {who} {what}：{before}{entry.after or '无'}{note}"


# ---------------------------------------------------------------------------------------------- 阶段


@router.command("阶段", f"阶段 <编号> <阶段> [{OVERRIDE_WORD} <原因>]",
                f"推进商机阶段（需要该阶段的证据）；负责人的上级可「{OVERRIDE_WORD} <原因>」跳过证据检查")
@refusals
def stage_command(call: CommandCall) -> list[Card]:
    words = call.words()
    ctx = call.ctx
    if len(words) < 2:
        raise UsageError("请写上商机编号和阶段，例如：阶段 O12 价格谈判。")
    opp = _workable(call, words[0])
    _open(opp)
    stage = stage_named(ctx, words[1])
    if stage is None:
        raise Refused("没有这个阶段", f"没有名为「{words[1][:20]}」的阶段。可选：" + "、".join(
            s.name for s in ctx.settings.stages if not s.outcome))
    if stage.outcome:
        raise Refused("请用赢单/输单命令", f"赢单请发送「赢单 {opp.code}」，输单请发送「输单 {opp.code} <原因>」。")
    if stage.name == opp.stage:
        return [call.reply("无需处理", f"{opp.code} 已经在「{stage.name}」阶段。")]
    reason = _override_reason(call, opp, words[2:])
    missing = missing_evidence(ctx, opp, stage)
    if missing and not reason:
        return [call.reply(f"{opp.code} 还不能进入「{stage.name}」",
                           f"进入「{stage.name}」需要证据：{'、'.join(stage.evidence)}；还缺少：{'、'.join(missing)}。",
                           *how_to_add(opp, missing), key=opp.code)]
    before = opp.stage
    cards = move_stage(ctx, opp, stage, Move(_member(call).id, reason))
    told = [f"{opp.code} 已从「{before}」进入「{stage.name}」。"]
    if reason:
        told.append(f"人工干预（缺少：{'、'.join(missing) or '无'}），原因：{reason}；已记入审计。")
    if stage.on_enter:
        told.append("已创建交接待办：" + "、".join(h.title for h in stage.on_enter))
    return [call.reply("阶段已更新", *told, key=opp.code), *cards]


def _override_reason(call: CommandCall, opp: Opportunity, rest: list[str]) -> str:
    if not rest:
        return ""
    if rest[0] != OVERRIDE_WORD:
        raise UsageError(f"阶段后面只能写「{OVERRIDE_WORD} <原因>」。")
    reason = " ".join(rest[1:]).strip()
    if not reason:
        raise UsageError(f"强制推进必须写原因，例如：阶段 {opp.code} 价格谈判 {OVERRIDE_WORD} 客户口头确认方案。")
    if not is_manager_of_owner(call.ctx, _member(call), opp):
        raise Refused("无权强制推进", f"只有 {opp.code} 负责人的上级可以跳过证据检查。")
    return reason


# ---------------------------------------------------------------------------------------------- 证据


@router.command("证据", "证据 <编号> <类型> [说明]",
                "把该客户会话里最近一个文件/图片/链接作为商机证据；没有文件时记下说明文字")
@refusals
def evidence_command(call: CommandCall) -> list[Card]:
    words = call.words()
    ctx = call.ctx
    kinds = evidence_kinds(ctx)
    if len(words) < 2:
        raise UsageError(f"请写上商机编号和证据类型（{'、'.join(kinds)}），例如：证据 O12 技术方案。")
    opp = _workable(call, words[0])
    _open(opp)
    kind, note = words[1], " ".join(words[2:])
    if kind not in kinds:
        raise Refused("没有这种证据类型", f"证据类型可选：{'、'.join(kinds)}。")
    attached = repo.last_attachment(ctx.session, opp.customer_id)
    if attached is None and not note:
        raise Refused("没有可附的文件", "该客户的会话里还没有文件、图片或链接。",
                      f"先把文件发给客户，或写上说明作为文字证据：「证据 {opp.code} {kind} <说明>」。")
    row = repo.add_evidence(ctx.session, opp, kind=kind, note=note, at=ctx.now, actor=_member(call).id,
                            message=attached, context=_context(ctx, opp, attached))
    what = _describe(attached) if attached else f"文字记录「{note}」"
    lines = [f"已把{what}作为「{kind}」附到 {opp.code}。"]
    if row.context.get("customer_reply_at"):
        lines.append(f"客户回复时间：{row.context['customer_reply_at_local']}")
    return [call.reply("证据已添加", *lines, key=opp.code)]


def _describe(message: Message) -> str:
    if message.file_name:
        size = f"，{message.file_size} 字节" if message.file_size else ""
        return f"文件「{message.file_name}」（{local_time(message.sent_at)}{size}）"
    return f"{'图片' if message.msg_type == 'image' else '链接'}（{local_time(message.sent_at)}）"


def _context(ctx: Context, opp: Opportunity, attached: Message | None) -> dict[str, Any]:
    """What a milestone claim keeps: the three messages before, the document version last sent, and
    when the customer replied to it."""
    before = repo.messages_before(ctx.session, opp.customer_id, ctx.now)  # the claim is made now
    doc = repo.last_document_sent(ctx.session, opp.customer_id, ctx.now)
    reply = repo.customer_reply_after(ctx.session, opp.customer_id, doc.sent_at if doc else ctx.now)
    out: dict[str, Any] = {
        "before": [{"id": m.id, "at": m.sent_at.isoformat(), "from_customer": m.from_customer, "text": m.text[:200]}
                   for m in before]}
    if doc is not None:
        out["document"] = {"message_id": doc.id, "file_name": doc.file_name, "file_md5": doc.file_md5,
                           "file_size": doc.file_size, "sent_at": doc.sent_at.isoformat()}
    if reply is not None:
        out["customer_reply_at"] = reply.sent_at.isoformat()
        out["customer_reply_at_local"] = local_time(reply.sent_at)
    return out


# ---------------------------------------------------------------------------------------------- 成员


@router.command("成员", "成员 <编号> <销售|方案|交付|客成> <姓名或账号>", "指定商机的销售、方案负责人、交付、客户成功")
@refusals
def member_command(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 3 or words[1] not in ROLE_FIELDS:
        raise UsageError(f"请写上编号、角色（{'|'.join(ROLE_FIELDS)}）和同事的姓名，例如：成员 O12 方案 王工。")
    opp = _workable(call, words[0])
    _open(opp)
    found = [u for u in directory.find_users(call.ctx.session, words[2]) if u.active]
    if len(found) != 1:
        raise Refused("没有找到同事", f"通讯录里没有唯一叫「{words[2][:20]}」的同事，请写姓名或账号。")
    field = ROLE_FIELDS[words[1]]
    if field == "owner_id" and not is_manager_of_owner(call.ctx, _member(call), opp):
        raise Refused("无权更换销售", f"只有 {opp.code} 负责人的上级可以更换销售。")
    repo.change(call.ctx.session, opp, field, found[0].id, call.ctx.now, _member(call).id)
    return [call.reply("成员已更新", f"{opp.code} 的{FIELD_NAMES[field]}：{found[0].name}。", key=opp.code)]


# ---------------------------------------------------------------------------------------------- 变更


@router.command("变更", "变更 <编号> <技术|商务|法务> <客户决策人|使用部门|IT> <交付周期|报价|合同条款> <描述>",
                "记录一项需求变更，通知负责人的上级和方案负责人")
@refusals
def change_command(call: CommandCall) -> list[Card]:
    words = call.words()
    ctx = call.ctx
    if not words:
        raise UsageError("请写上商机编号，例如：变更 O12 技术 客户决策人 交付周期 新增验收标准。")
    opp = _workable(call, words[0])
    _open(opp)
    category, raised_by, impact = _change_fields(words[1:4])
    description = " ".join(words[4:]).strip()
    if not description:
        raise UsageError("请写上变更的描述。")
    user = _member(call)
    change = repo.add_change(ctx.session, opp, category=category, raised_by=raised_by, impact=impact,
                             description=description, at=ctx.now, actor=user.id)
    recipients = _change_recipients(ctx, opp)
    lines = (f"{user.name} 在商机 {opp.code} {opp.name} 记录了一项需求变更：", f"类型：{category}",
             f"提出方：{raised_by}", f"影响：{impact}", f"描述：{description}", f"查看全部：「商机 {opp.code}」")
    cards = [Card(title=f"需求变更：{opp.code} {opp.name}", lines=lines, recipients=(uid,), key=opp.code,
                  dedupe_key=f"change:{change.id}:{uid}") for uid in recipients]
    told = "、".join(user_name(ctx, uid) for uid in recipients) or "无人（请先指定上级和方案负责人）"
    reply = call.reply("需求变更已记录", f"{opp.code} 第 {len(repo.changes(ctx.session, opp))} 项变更已记录。",
                       f"已通知：{told}", key=opp.code)
    if opp.solution_lead_id is None:
        reply = replace(reply, lines=(*reply.lines, f"还没有方案负责人：「成员 {opp.code} 方案 <姓名>」指定。"))
    return [reply, *cards]


def _change_fields(given: list[str]) -> tuple[str, str, str]:
    """The three required fields, in order; a missing or unknown one gets the choices."""
    fields = (("类型", CATEGORIES), ("提出方", RAISERS), ("影响", IMPACTS))
    values = []
    for i, (label, choices) in enumerate(fields):
        value = given[i] if i < len(given) else ""
        if value not in choices:
            shown = f"「{value[:20]}」不是可选的{label}" if value else f"缺少{label}"
            raise UsageError(f"{shown}。{label}可选：{'、'.join(choices)}。"
                             f"三项都要写：类型（{'|'.join(CATEGORIES)}）、提出方（{'|'.join(RAISERS)}）、"
                             f"影响（{'|'.join(IMPACTS)}）。")
        values.append(value)
    return values[0], values[1], values[2]


def _change_recipients(ctx: Context, opp: Opportunity) -> tuple[str, ...]:
    owner = directory.get_user(ctx.session, opp.owner_id)
    boss = manager_at(ctx, owner, 1) if owner else None
    ids = [boss.id if boss else None, opp.solution_lead_id]
    return tuple(dict.fromkeys(i for i in ids if i))


# ---------------------------------------------------------------------------------------------- 赢单 / 输单


@router.command("赢单", "赢单 <编号>", "商机赢单（需要合同证据）")
@refusals
def win_command(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 1:
        raise UsageError("请写上商机编号，例如：赢单 O12。")
    ctx = call.ctx
    opp = _workable(call, words[0])
    _open(opp)
    won = outcome_stage(ctx, "won")
    missing = missing_evidence(ctx, opp, won)
    if missing:
        return [call.reply(f"{opp.code} 还不能赢单", f"赢单需要证据：{'、'.join(won.evidence)}；还缺少：{'、'.join(missing)}。",
                           *how_to_add(opp, missing), "合同审批通过后会自动附上合同证据（「合同 O12 <金额>」提交）。",
                           key=opp.code)]
    cards = move_stage(ctx, opp, won, Move(_member(call).id))
    return [call.reply("恭喜赢单", f"{opp.code} {opp.name} 已赢单，客户阶段已更新。", key=opp.code), *cards]


@router.command("输单", "输单 <编号> <原因> [说明]", "商机输单，原因从配置的输单原因中选")
@refusals
def lose_command(call: CommandCall) -> list[Card]:
    words = call.words()
    ctx = call.ctx
    lost = outcome_stage(ctx, "lost")
    if len(words) < 2 or words[1] not in lost.reasons:
        raise UsageError(f"请写上商机编号和输单原因（{'、'.join(lost.reasons)}），例如：输单 O12 {lost.reasons[0]}。")
    opp = _workable(call, words[0])
    _open(opp)
    reason = " ".join(words[1:])
    cards = move_stage(ctx, opp, lost, Move(_member(call).id))
    repo.change(ctx.session, opp, "lost_reason", reason, ctx.now, _member(call).id)
    return [call.reply("已记录输单", f"{opp.code} {opp.name} 已输单，原因：{reason}。", key=opp.code), *cards]
