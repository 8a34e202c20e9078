"""Who may decide, withdraw, resubmit or read an approval — each refusal sent as the person who must
not get through would send it, through the real inbound job (identity is the verified sender)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage import audit, directory
from storage.db import transaction
from storage.models import Approval, ApprovalStep
from tests.approvals.conftest import Chat, make_chat
from tests.conftest import NOW

HUAWEI = "华为技术有限公司"

# A second finance user, so a finance rep's own quote still has a finance step someone else decides.
QIANBA_TOML = """
[[users]]
id = "qianba"
name = "钱八"
role = "finance"
manager = "wangwu"
"""


def state(chat: Chat, approval_id: int = 1) -> tuple[str, list[str]]:
    with chat.factory() as s:
        found = s.get(Approval, approval_id)
        assert found is not None
        return found.status, [step.status for step in found.steps]


def decided_by(chat: Chat, approval_id: int = 1) -> list[str | None]:
    with chat.factory() as s:
        found = s.get(Approval, approval_id)
        assert found is not None
        return [step.decided_by for step in found.steps]


def submit(chat: Chat, text: str = f"报价 {HUAWEI} 68万", who: str = "zhangsan") -> None:
    chat.add_customer(HUAWEI)
    assert chat.say(who, text)[0].title.startswith("已提交")


def test_an_approver_who_left_the_org_cannot_decide(chat: Chat) -> None:
    submit(chat)
    # lisi is removed from [[users]] (he left): the directory keeps him, inactive
    with transaction(chat.factory) as s:
        directory.sync_users(s, [u for u in chat.runtime.settings.users if u.id != "lisi"], NOW)
    for command in ("同意 A1", "驳回 A1 不合适"):
        refused = chat.say("lisi", command)[0]
        assert refused.title == "无权审批" and "不是 A1 当前步骤的审批人" in refused.text()
    assert state(chat) == ("pending", ["pending", "waiting", "waiting", "waiting"])
    assert decided_by(chat) == [None, None, None, None]


def test_an_approver_who_left_cannot_decide_a_role_step_either(chat: Chat) -> None:
    submit(chat, f"报价 {HUAWEI} 30万")
    chat.say("lisi", "同意 A1")
    with transaction(chat.factory) as s:
        directory.sync_users(s, [u for u in chat.runtime.settings.users if u.id != "zhaoliu"], NOW)
    assert chat.say("zhaoliu", "同意 A1")[0].title == "无权审批"
    assert state(chat) == ("pending", ["approved", "skipped", "pending", "waiting"])


def test_a_withdrawn_approval_cannot_be_approved_or_rejected(chat: Chat) -> None:
    submit(chat)
    assert chat.say("zhangsan", "撤回 A1")[0].title == "已撤回 A1"
    for command in ("同意 A1", "驳回 A1 太贵"):
        refused = chat.say("lisi", command)[0]
        assert (refused.title, refused.lines) == ("无需处理", ("A1 已撤回，无需再处理。",))
    assert state(chat) == ("withdrawn", ["cancelled", "cancelled", "cancelled", "cancelled"])


def test_a_rejected_approval_cannot_be_approved_by_the_next_approver(chat: Chat) -> None:
    submit(chat)
    chat.say("lisi", "驳回 A1 低于底价")
    refused = chat.say("wangwu", "同意 A1")[0]
    assert (refused.title, refused.lines) == ("无需处理", ("A1 已驳回，无需再处理。",))
    assert chat.say("lisi", "同意 A1")[0].title == "无需处理"
    assert state(chat) == ("rejected", ["rejected", "cancelled", "cancelled", "cancelled"])


def test_a_decided_approval_cannot_be_withdrawn(chat: Chat) -> None:
    submit(chat)
    chat.say("lisi", "驳回 A1 低于底价")
    refused = chat.say("zhangsan", "撤回 A1")[0]
    assert (refused.title, refused.lines) == ("无法撤回", ("A1 已驳回，不能撤回。",))
    assert state(chat)[0] == "rejected"


def test_only_the_submitter_withdraws_even_the_approver(chat: Chat) -> None:
    submit(chat)
    for who in ("lisi", "wangwu", "sunqi"):
        refused = chat.say(who, "撤回 A1")[0]
        assert (refused.title, refused.lines) == ("无法撤回", ("A1 不是你提交的，只有提交人可以撤回。",))
    assert state(chat) == ("pending", ["pending", "waiting", "waiting", "waiting"])
    assert [c.title for c in chat.cards_for("lisi")] == ["报价审批 A1（第 1/4 步）", "无法撤回"]


def test_a_submitter_holding_the_steps_role_cannot_approve_their_own_quote(
        write_config: Callable[..., Path], engine: Engine, factory: sessionmaker[Session]) -> None:
    chat = make_chat(write_config, engine, factory, QIANBA_TOML)
    submit(chat, f"报价 {HUAWEI} 30万", who="zhaoliu")  # zhaoliu is finance; so is the third step
    chat.say("wangwu", "同意 A1")
    assert state(chat) == ("pending", ["approved", "skipped", "pending", "waiting"])
    refused = chat.say("zhaoliu", "同意 A1")[0]
    assert refused.title == "无权审批" and "是你自己提交的，不能自己审批" in refused.text()
    assert state(chat)[1][2] == "pending"
    assert chat.say("qianba", "同意 A1")[0].title == "已同意 A1"
    assert decided_by(chat)[2] == "qianba"


def test_resubmission_is_refused_while_pending_after_approval_and_for_the_wrong_kind(chat: Chat) -> None:
    submit(chat)
    pending = chat.say("zhangsan", "重新提交 A1 60万")[0]
    assert pending.title == "无法重新提交" and "只有被驳回或已撤回的审批可以重新提交" in pending.text()
    chat.say("zhangsan", "撤回 A1")
    wrong_kind = chat.say("zhangsan", "合同 A1 60万")[0]
    assert wrong_kind.title == "无法重新提交" and "A1 是报价审批" in wrong_kind.text()
    assert chat.say("lisi", "重新提交 A1 60万")[0].title == "无法重新提交"
    assert chat.say("zhangsan", "重新提交 A1 60万")[0].title == "已提交报价审批 A2"
    with chat.factory() as s:
        assert s.get(Approval, 3) is None
        assert [st.approver_id for st in s.get(Approval, 2).steps][:1] == ["lisi"]


def test_a_step_named_for_someone_is_not_decided_by_a_holder_of_the_same_role(chat: Chat) -> None:
    submit(chat)
    chat.say("lisi", "同意 A1")
    # the second step is wangwu's (manager:2); another director-level or manager user may not take it
    assert chat.say("lisi", "同意 A1")[0].title == "无需处理"
    assert chat.say("zhaoliu", "同意 A1")[0].title == "无权审批"
    with chat.factory() as s:
        step = s.get(ApprovalStep, 2)
        assert step is not None and (step.approver_id, step.status) == ("wangwu", "pending")


def test_an_outsider_cannot_read_an_approval(chat_with_team_lead: Chat) -> None:
    chat = chat_with_team_lead
    submit(chat)
    refused = chat.say("xiaoming", "审批 A1")[0]  # below the submitter, in no step
    assert refused.title == "无权查看" and HUAWEI not in refused.text()
    assert chat.say("zhaoliu", "审批 A1")[0].title.startswith("报价审批 A1")  # finance holds a later step
    assert chat.say("wangwu", "审批 A1")[0].title.startswith("报价审批 A1")  # a director may
    assert chat.say("lisi", "审批 A1")[0].title.startswith("报价审批 A1")  # the approver may


def test_a_withdrawal_is_dated_audited_and_needs_exactly_one_code(chat: Chat) -> None:
    submit(chat)
    for text in ("撤回", "撤回 A1 A2"):
        usage = chat.say("zhangsan", text)[0]
        assert usage.title == "命令格式不对" and "请写上一个审批编号，例如：撤回 A17。" in usage.text()
    assert state(chat)[0] == "pending"
    chat.now = NOW + timedelta(hours=2)
    chat.say("zhangsan", "撤回 A1")
    with chat.factory() as s:
        found = s.get(Approval, 1)
        assert found is not None and found.decided_at == NOW + timedelta(hours=2)
        rows = audit.history(s, "approval", 1)
    assert [(r.actor, r.field, r.before, r.after) for r in rows][-1] == ("zhangsan", "status", "pending", "withdrawn")


def test_withdrawing_at_a_role_step_tells_the_role_and_the_submitter_how_to_resubmit(chat: Chat) -> None:
    submit(chat, f"报价 {HUAWEI} 30万")
    chat.say("lisi", "同意 A1")  # now any finance user decides
    reply = chat.say("zhangsan", "撤回 A1")[0]
    assert reply.title == "已撤回 A1"
    assert reply.lines == (f"客户：{HUAWEI}", "金额：￥300,000", "提交人：张三",
                           "修改后可发送「报价 A1 <金额> [备注]」重新提交。")
    told = chat.cards_for("zhaoliu")[-1]
    assert (told.title, told.key) == ("A1 已撤回", "A1")
    assert told.lines[0] == "张三 撤回了报价审批 A1，无需再处理。" and f"客户：{HUAWEI}" in told.lines
    assert [c.title for c in chat.cards_for("lisi")][-1] != "A1 已撤回"  # lisi's step is long done
    refused = chat.say("lisi", "重新提交 A1")[0]
    assert refused.lines == ("A1 不是你提交的，只有提交人可以重新提交。",)


def test_a_resubmission_keeps_what_it_does_not_change_and_only_the_latest_version_resubmits(chat: Chat) -> None:
    submit(chat, f"报价 {HUAWEI} 68万 含维保")
    chat.say("zhangsan", "撤回 A1")
    assert chat.say("zhangsan", "重新提交 A1")[0].title == "已提交报价审批 A2"  # no amount, no note: both kept
    chat.say("zhangsan", "撤回 A2")
    assert chat.say("zhangsan", "重新提交 A2 60万 加急 处理")[0].title == "已提交报价审批 A3"
    with chat.factory() as s:
        versions = [(a.amount, a.note, a.version) for a in (s.get(Approval, i) for i in (1, 2, 3)) if a]
    assert versions == [(680000, "含维保", 1), (680000, "含维保", 2), (600000, "加急 处理", 3)]
    stale = chat.say("zhangsan", "重新提交 A1 50万")[0]
    assert (stale.title, stale.lines) == ("无法重新提交", ("A1 已经有新版本 A2，请在最新版本上修改。",))
