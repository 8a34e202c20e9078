"""The lead commands: 线索 (register, or show a lead and why it went where it did), 已联系, 无效, 改派
(a manager, audited) and 分配 (a manager confirms a suspected duplicate is new)."""

from __future__ import annotations

from handlers.commands import CommandCall, UsageError, router
from handlers.context import Context
from handlers.leads import (
    STATUS_NAMES,
    LeadProblem,
    brief,
    give,
    mark_contacted,
    name_of,
    route,
    take_lead,
    validate,
)
from handlers.model import Card
from handlers.orgchart import managers_of
from handlers.timefmt import local_time
from storage import directory
from storage import leads as repo
from storage.models import Lead, User
from storage.states import LEAD, LeadStatus


def _load(call: CommandCall, code: str) -> Lead:
    lead_id = repo.parse_code(code)
    lead = repo.get(call.ctx.session, lead_id) if lead_id else None
    if lead is None:
        raise UsageError(f"没有找到线索「{code}」。")
    return lead


def _is_manager(ctx: Context, user: User | None, of: str | None) -> bool:
    if user is None:
        return False
    if user.role in ("admin", "director"):
        return True
    owner = directory.get_user(ctx.session, of)
    return user.role == "manager" and (owner is None or user in managers_of(ctx, owner))


@router.command("线索", "线索 <客户名> <电话> [行业] [预算] / 线索 L12", "登记一条线索并自动分配；或查看线索及分配理由")
def lead_command(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) == 1 and repo.parse_code(words[0]) is not None and words[0][:1] in "Ll":
        return [_show(call, _load(call, words[0]))]
    if len(words) < 2:
        raise UsageError("请写上客户名和电话，例如「线索 华为 13800138000 制造 50万」。")
    raw = dict(zip(("company", "phone", "industry", "budget"), words[:4], strict=False))
    if len(words) > 4:
        raw["notes"] = " ".join(words[4:])
    try:
        data = validate(raw, "chat")
    except LeadProblem as exc:
        raise UsageError(str(exc)) from None
    assert call.user is not None
    intake = take_lead(call.ctx, data, call.user.id)
    return [*intake.cards, call.reply(f"已登记线索 {intake.lead.code}", *_where(call.ctx, intake.lead))]


def _where(ctx: Context, lead: Lead) -> list[str]:
    status = STATUS_NAMES.get(lead.status, lead.status)
    lines = [f"状态：{status}" + (f"，负责人：{name_of(ctx, lead.owner_id)}" if lead.owner_id else "")]
    if lead.reason.get("why"):
        lines.append(f"原因：{lead.reason['why']}")
    return lines


def _show(call: CommandCall, lead: Lead) -> Card:
    ctx = call.ctx
    user = call.user
    if user is None or not (user.id == lead.owner_id or _is_manager(ctx, user, lead.owner_id)):
        return call.reply("无法查看", f"线索 {lead.code} 只有负责人和主管可以查看。")
    lines = [*brief(lead), *_where(ctx, lead), f"登记时间：{local_time(lead.created_at)}"]
    if lead.contacted_at:
        lines.append(f"首次联系：{local_time(lead.contacted_at)}")
    scores = lead.reason.get("scores") or []
    if scores:
        lines.append("候选人得分（行业/成单率/空闲度/超时扣分 → 总分）：")
        lines += [f"· {name_of(ctx, s['user'])}：{s['industry']:.0f}/{s['win_rate']:.0%}/{s['load']:.0%}/"
                  f"{s['stale']:.0%} → {s['score']:.2f}" + ("（行业熔断）" if s.get("fused") else "")
                  for s in scores]
    excluded = lead.reason.get("excluded") or {}
    if excluded:
        lines.append("未参与：" + "；".join(f"{name_of(ctx, uid)} {why}" for uid, why in excluded.items()))
    return call.reply(f"线索 {lead.code}：{lead.company}", *lines)


@router.command("已联系", "已联系 <编号>", "标记线索已首次联系")
def contacted(call: CommandCall) -> list[Card]:
    lead = _load(call, call.args)
    assert call.user is not None
    if lead.owner_id != call.user.id:
        return [call.reply("无法操作", f"线索 {lead.code} 不是你负责的。")]
    if lead.status != "assigned":
        return [call.reply(f"线索 {lead.code} 已是「{STATUS_NAMES.get(lead.status, lead.status)}」", "无需再标记。")]
    mark_contacted(call.ctx, lead, call.user.id)
    return [call.reply(f"已记录：线索 {lead.code} 已联系", f"{lead.company}，首次联系时间 {local_time(call.ctx.now)}。")]


@router.command("无效", "无效 <编号> <原因>", "把线索标记为无效（负责人或主管）")
def invalid(call: CommandCall) -> list[Card]:
    code, _, why = call.args.partition(" ")
    lead = _load(call, code)
    if not why.strip():
        raise UsageError("请写上无效的原因，例如「无效 L12 空号」。")
    if not (call.user and (call.user.id == lead.owner_id or _is_manager(call.ctx, call.user, lead.owner_id))):
        return [call.reply("无法操作", f"线索 {lead.code} 只有负责人或主管可以标记无效。")]
    if lead.status not in ("assigned", "contacted", "pool", "new", "review"):
        return [call.reply(f"线索 {lead.code} 已是「{STATUS_NAMES.get(lead.status, lead.status)}」", "无需再标记。")]
    assert call.user is not None
    repo.move(call.ctx.session, lead, "invalid", call.ctx.now, call.user.id, closed_reason=why.strip(),
              next_check_at=None, note=why.strip())
    return [call.reply(f"线索 {lead.code} 已标记无效", f"原因：{why.strip()}")]


@router.command("改派", "改派 <编号> <人>", "主管把线索改派给另一位销售（记入审计）")
def reassign(call: CommandCall) -> list[Card]:
    words = call.words()
    if len(words) != 2:
        raise UsageError("请写上线索编号和接手人，例如「改派 L12 张三」。")
    lead = _load(call, words[0])
    if not _is_manager(call.ctx, call.user, lead.owner_id):
        return [call.reply("无法改派", "只有该线索负责人的主管（或总监、管理员）可以改派。")]
    target = _one_user(call, words[1])
    if not LEAD.allows(lead.status, LeadStatus.ASSIGNED):
        return [call.reply("无法改派", f"线索 {lead.code} 已是「{STATUS_NAMES.get(lead.status, lead.status)}」。")]
    assert call.user is not None
    before = lead.owner_id
    why = f"{call.user.name} 手动改派给 {target.name}" + (f"（原负责人 {name_of(call.ctx, before)}）" if before else "")
    cards = give(call.ctx, lead, target.id, call.user.id, {**lead.reason, "rule": "manual", "picked": target.id,
                                                          "why": why})
    return [*cards, call.reply(f"线索 {lead.code} 已改派给 {target.name}", why)]


@router.command("分配", "分配 <编号>", "主管确认疑似重复的线索是新客户，按规则分配")
def assign_reviewed(call: CommandCall) -> list[Card]:
    lead = _load(call, call.args)
    if not _is_manager(call.ctx, call.user, None):
        return [call.reply("无法分配", "只有主管（或总监、管理员）可以分配。")]
    if lead.status != "review":
        return [call.reply("无需分配", f"线索 {lead.code} 已是「{STATUS_NAMES.get(lead.status, lead.status)}」。")]
    assert call.user is not None
    cards = route(call.ctx, lead, call.user.id, near_ok=True)
    return [*cards, call.reply(f"线索 {lead.code} 已分配", *_where(call.ctx, lead))]


def _one_user(call: CommandCall, text: str) -> User:
    found = [u for u in directory.find_users(call.ctx.session, text) if u.active]
    if len(found) != 1:
        raise UsageError(f"找不到唯一的在职成员「{text}」，请写成员的 id 或姓名。")
    return found[0]
