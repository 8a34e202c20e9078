"""Approvals that belong to a deal: `报价 O12 680000` links the quote to the opportunity; an approved
quote is the 报价单 evidence (and the stage follows when that was all it lacked), an approved contract
the 合同 evidence that makes 赢单 possible. Called by handlers.approvals; imports nothing of it."""

from __future__ import annotations

from handlers.context import Context
from handlers.model import Card
from handlers.opportunities.core import Move, Refused, load, may_work_on, missing_evidence, move_stage
from handlers.settings import StageConfig
from storage import opportunities as repo
from storage.models import Approval, Customer, Opportunity, User

EVIDENCE_OF = {"quote": "报价单", "contract": "合同"}


def for_submission(ctx: Context, user: User, word: str) -> tuple[Opportunity, Customer]:
    """The open opportunity (and its customer) a submission names, if this user is on the deal."""
    opp = load(ctx, word)
    if not may_work_on(ctx, user, opp):
        raise Refused("无法提交", f"{opp.code} 不是你参与的商机。")
    if opp.status != repo.OPEN:
        raise Refused("无法提交", f"{opp.code} 已结束，不能再提交审批。")
    customer = ctx.session.get(Customer, opp.customer_id)
    assert customer is not None
    return opp, customer


def on_approved(ctx: Context, approval: Approval) -> list[Card]:
    """An approved quote or contract on an opportunity becomes its evidence; the stage follows."""
    opp = repo.get(ctx.session, approval.opportunity_id) if approval.opportunity_id else None
    kind = EVIDENCE_OF.get(approval.kind)
    if opp is None or kind is None or opp.status != repo.OPEN:
        return []
    actor = f"approval:{approval.code}"
    repo.add_evidence(ctx.session, opp, kind=kind, note=f"{approval.code} 审批通过", at=ctx.now, actor=actor,
                      approval_id=approval.id)
    if approval.kind == "contract":
        return [_tell_owner(opp, f"合同审批 {approval.code} 已通过，已作为「合同」证据附到 {opp.code}。",
                            f"确认签署后发送「赢单 {opp.code}」。")]
    target = _stage_opened_by(ctx, opp, kind)
    if target is None:
        return [_tell_owner(opp, f"报价审批 {approval.code} 已通过，已作为「{kind}」证据附到 {opp.code}。")]
    before = opp.stage
    try:
        cards = move_stage(ctx, opp, target, Move(actor))
    except Refused:  # moved meanwhile by someone else: the evidence stays, the stage is theirs
        return [_tell_owner(opp, f"报价审批 {approval.code} 已通过，已作为「{kind}」证据附到 {opp.code}。")]
    return [_tell_owner(opp, f"报价审批 {approval.code} 已通过，{opp.code} 已从「{before}」进入「{target.name}」。"),
            *cards]


def _stage_opened_by(ctx: Context, opp: Opportunity, kind: str) -> StageConfig | None:
    """The next stage after the current one that asks for `kind`, if nothing else is missing for it."""
    names = [s.name for s in ctx.settings.stages]
    here = names.index(opp.stage) if opp.stage in names else -1
    for stage in ctx.settings.stages[here + 1:]:
        if kind in stage.evidence and not stage.outcome:
            return None if missing_evidence(ctx, opp, stage) else stage
    return None


def _tell_owner(opp: Opportunity, *lines: str) -> Card:
    return Card(title=f"商机 {opp.code} 审批结果", lines=lines, recipients=(opp.owner_id,) if opp.owner_id else (),
                key=opp.code)
