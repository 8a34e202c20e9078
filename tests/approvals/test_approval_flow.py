"""Quote and contract approvals as people use them in the chat, over the console, WeCom and DingTalk
identities (platforms without credentials deliver through the recording console channel)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage.models import Approval, ApprovalStep, AuditEntry, Customer
from tests.approvals.conftest import Chat
from tests.conftest import NOW

HUAWEI = "华为技术有限公司"


def approval(chat: Chat, approval_id: int = 1) -> tuple[Approval, list[ApprovalStep]]:
    with chat.factory() as s:
        found = s.get(Approval, approval_id)
        assert found is not None
        return found, list(found.steps)


def statuses(chat: Chat, approval_id: int = 1) -> list[str]:
    return [step.status for step in approval(chat, approval_id)[1]]


def test_quote_climbs_the_chain_and_the_rep_hears_every_decision(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    reply = chat.say("zhangsan", f"报价 {HUAWEI} 680000 含三年维保", platform="wecom")
    assert reply[0].title == "已提交报价审批 A1"
    assert "当前：李四 审批（第 1/4 步）。" in reply[0].lines

    ask = chat.cards_for("lisi")[-1]
    assert ask.title == "报价审批 A1（第 1/4 步）"
    text = ask.text()
    for expected in (f"客户：{HUAWEI}", "金额：￥680,000", "提交人：张三", "备注：含三年维保", "「同意 A1」", "「驳回 A1 <原因>」"):
        assert expected in text
    assert [(b.label, b.command) for b in ask.buttons] == [("同意", "同意 A1")]

    # lisi decides from DingTalk: the pipeline knows him by his DingTalk id, not by anything typed
    assert chat.say("ding_lisi", "同意 A1", platform="dingtalk")[0].title == "已同意 A1"
    second = chat.cards_for("wangwu")[-1]
    assert second.title == "报价审批 A1（第 2/4 步）"
    assert "· 李四 已同意（11-02 17:00）" in second.lines  # earlier decisions, Beijing time

    chat.say("wangwu", "同意A1")  # written without the space
    third = chat.cards_for("zhaoliu")[-1]
    assert "本步由任一财务审批。" in third.lines
    chat.say("zhaoliu", "同意 A1")

    found, steps = approval(chat)
    assert found.status == "approved"
    assert [s.status for s in steps] == ["approved", "approved", "approved", "skipped"]
    assert "赵六 已在第 3 步同意" in (steps[3].note or "")
    heard = [c.title for c in chat.cards_for("zhangsan")]
    assert heard == ["已提交报价审批 A1", "A1 第 1/4 步已同意", "A1 第 2/4 步已同意", "报价审批 A1 已通过"]
    assert "下一步：王五 审批（第 2/4 步）。" in chat.cards_for("zhangsan")[1].lines


def test_steps_below_their_amount_are_skipped(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 30万")
    assert statuses(chat) == ["pending", "skipped", "waiting", "waiting"]
    chat.say("lisi", "同意 A1")
    assert chat.cards_for("zhaoliu")[-1].title == "报价审批 A1（第 2/3 步）"
    assert not chat.cards_for("wangwu")


def test_nobody_but_the_current_approver_can_decide(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    sent_before = len(chat.channel.sent)

    own = chat.say("zhangsan", "同意 A1", platform="wecom")
    assert own[0].title == "无权审批" and "不能自己审批" in own[0].text()
    for stranger in ("wangwu", "zhaoliu", "sunqi"):
        refusal = chat.say(stranger, "同意 A1")
        assert refusal[0].title == "无权审批" and "当前审批人：李四。" in refusal[0].lines
    # naming the approver in the text changes nothing: identity is the platform's verified sender
    assert chat.say("ding_zhangsan", "同意 A1 lisi", platform="dingtalk")[0].title == "命令格式不对"
    assert chat.say("zhangsan", "驳回 A1 不行")[0].title == "无权审批"

    assert statuses(chat) == ["pending", "waiting", "waiting", "waiting"]
    assert approval(chat)[0].status == "pending"
    assert len(chat.channel.sent) == sent_before + 6  # only the six refusals, each to its sender
    assert [c.title for c in chat.cards_for("wangwu")] == ["无权审批"]


def test_a_second_tap_changes_nothing(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    chat.say("lisi", "同意 A1")
    again = chat.say("lisi", "同意 A1")[0]
    assert (again.title, again.lines) == ("无需处理", ("你已在第 1 步同意 A1，现在等 王五 审批。",))
    assert statuses(chat) == ["approved", "pending", "waiting", "waiting"]
    assert [c.title for c in chat.cards_for("wangwu")] == ["报价审批 A1（第 2/4 步）"]


def test_any_holder_of_the_role_decides_a_role_step(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 30万")
    chat.say("lisi", "同意 A1")
    assert chat.say("wangwu", "同意 A1")[0].title == "无权审批"  # a director, not finance
    assert chat.say("lisi", "同意 A1")[0].lines == ("你已在第 1 步同意 A1，现在等 财务（任一人） 审批。",)
    assert chat.say("ding_zhaoliu", "同意 A1", platform="dingtalk")[0].title == "已同意 A1"
    assert approval(chat)[0].status == "approved"


def test_rejection_reaches_the_rep_with_its_reason(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    usage = chat.say("lisi", "驳回 A1")
    assert usage[0].title == "命令格式不对" and "驳回必须写明原因" in usage[0].text()
    assert approval(chat)[0].status == "pending"

    assert chat.say("lisi", "驳回 A1 低于底价 请重新核算")[0].title == "已驳回 A1"
    outcome = chat.cards_for("zhangsan")[-1]
    assert outcome.title == "报价审批 A1 已驳回"
    assert "· 李四 已驳回（11-02 17:00）：低于底价 请重新核算" in outcome.lines
    assert any("报价 A1 <新金额>" in line for line in outcome.lines)
    found, steps = approval(chat)
    assert (found.status, found.times_returned) == ("rejected", 1)
    assert [s.status for s in steps] == ["rejected", "cancelled", "cancelled", "cancelled"]
    assert chat.say("lisi", "同意 A1")[0].title == "无需处理"


def test_resubmission_is_a_new_version_and_history_stays_readable(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    chat.say("lisi", "驳回 A1 价格太低")
    assert chat.say("lisi", "报价 A1 72万")[0].title == "无法重新提交"  # not the submitter

    reply = chat.say("zhangsan", "报价 A1 72万 加了培训")
    assert reply[0].title == "已提交报价审批 A2"
    new, _ = approval(chat, 2)
    assert (new.previous_id, new.version, new.amount, new.note, new.times_returned) == (1, 2, 720000, "加了培训", 1)
    ask = chat.cards_for("lisi")[-1]
    assert "版本：第 2 版（上一版 A1 已驳回：价格太低）" in ask.lines

    assert chat.say("zhangsan", "报价 A1 75万")[0].title == "无法重新提交"  # A2 is the latest
    history = chat.say("zhangsan", "审批 A1")[0]
    text = history.text()
    assert history.title == "报价审批 A1（共 2 个版本）"
    assert "A1 第 1 版（当前查看）：￥680,000，已驳回" in text and "A2 第 2 版：￥720,000，审批中" in text
    assert "第 1 步 李四 已驳回（11-02 17:00）：价格太低" in text
    assert chat.say("sunqi", "审批 A2")[0].title.startswith("报价审批 A2")  # admin
    assert chat.say("zhaoliu", "审批 A1")[0].title.startswith("报价审批 A1")  # finance is in the chain

    chat.say("lisi", "驳回 A2 还是太低")
    chat.say("zhangsan", "重新提交 A2 70万")
    assert approval(chat, 3)[0].times_returned == 2


def test_withdraw_is_for_the_submitter_only(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    assert chat.say("lisi", "撤回 A1")[0].title == "无法撤回"
    assert chat.say("zhangsan", "撤回 A1")[0].title == "已撤回 A1"
    assert chat.cards_for("lisi")[-1].title == "A1 已撤回"
    assert approval(chat)[0].status == "withdrawn"
    assert chat.say("lisi", "同意 A1")[0].title == "无需处理"
    assert chat.say("zhangsan", "撤回 A1")[0].title == "无法撤回"


def test_amount_forms_and_usage_replies(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    for i, amount in enumerate(("680,000", "68万", "6.8万", "￥680000", "68w"), start=1):
        assert chat.say("zhangsan", f"报价 {HUAWEI} {amount}")[0].title == f"已提交报价审批 A{i}"
    with chat.factory() as s:
        amounts = [a.amount for a in s.scalars(select(Approval).order_by(Approval.id))]
    assert amounts == [680000, 680000, 68000, 680000, 680000]
    for text, says in ((f"报价 {HUAWEI} 很多钱", "没有找到金额"), (f"报价 {HUAWEI} 0", "金额必须大于 0"),
                       ("报价", "请写上客户名和金额"), (f"报价 {HUAWEI}", "请写上金额"), ("报价 68万", "请写上客户名")):
        reply = chat.say("zhangsan", text)[0]
        assert reply.title == "命令格式不对" and says in reply.text()
        assert "正确写法：报价 <客户名> <金额> [备注]" in reply.text()


def test_customer_name_must_match_and_is_never_created(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    ask = chat.say("zhangsan", "报价 华为 680000 加急")[0]
    assert ask.title == "请确认客户"
    assert f"· {HUAWEI} → 发送「报价 {HUAWEI} 680000 加急」" in ask.lines
    missing = chat.say("zhangsan", "报价 小米科技 680000")[0]
    assert missing.title == "没有找到客户" and "关联 小米科技" in missing.text()
    with chat.factory() as s:
        assert s.scalar(select(func.count(Approval.id))) == 0
        assert s.scalar(select(func.count(Customer.id))) == 1


def test_customer_names_with_spaces(chat: Chat) -> None:
    chat.add_customer("Acme Corp")
    assert chat.say("zhangsan", "报价 Acme Corp 12万 first order")[0].title == "已提交报价审批 A1"
    assert approval(chat)[0].note == "first order"


def test_lists_what_waits_for_me_and_the_managers_board(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.add_customer("小米科技有限责任公司")
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    chat.say("zhangsan", "报价 小米科技有限责任公司 30万")
    chat.say("lisi", "驳回 A2 缺少成本表")
    chat.say("zhangsan", "报价 A2 32万")
    chat.now = NOW + timedelta(hours=30)

    mine = chat.say("lisi", "审批")[0]
    assert mine.lines[0] == "等你审批：2 项"
    assert "· A1 报价 华为技术有限公司 ￥680,000，张三 提交，已等 1 天 6 小时 → 「同意 A1」/「驳回 A1 <原因>」" in mine.lines
    assert chat.say("wangwu", "审批")[0].lines == ("目前没有等你审批的事项。",)

    board = chat.say("lisi", "看板")[0]
    assert board.lines[0] == "团队进行中的审批：2 项（停留最久的在前）"
    assert board.lines[1] == ("· A1 报价 华为技术有限公司 ￥680,000（张三） 当前：李四（第 1/4 步），"
                              "停留 1 天 6 小时，已超时，退回 0 次")
    assert "退回 1 次" in board.lines[2]
    assert chat.say("wangwu", "看板")[0].lines[0].startswith("团队进行中的审批：2 项")  # two levels down
    assert chat.say("zhangsan", "看板")[0].title == "审批看板"
    assert "你没有下属" in chat.say("zhangsan", "看板")[0].text()


def test_unresolvable_approvers_go_to_the_submitters_manager_with_a_note(chat: Chat) -> None:
    # zhaoliu (finance) submits: there is no manager:2 above him, and the finance and user:zhaoliu steps
    # would be himself — all of them fall back to his manager, who decides once.
    chat.add_customer(HUAWEI, owner="zhaoliu")
    chat.say("zhaoliu", f"报价 {HUAWEI} 68万")
    ask = chat.cards_for("wangwu")[-1]
    assert ask.title == "报价审批 A1（第 1/4 步）"
    _, steps = approval(chat)
    assert [s.approver_id for s in steps] == ["wangwu"] * 4
    assert "按配置「manager:2」找不到审批人，改由提交人的直属主管审批" in (steps[1].note or "")
    chat.say("wangwu", "同意 A1")
    assert statuses(chat) == ["approved", "skipped", "skipped", "skipped"]
    assert chat.cards_for("zhaoliu")[-1].title == "报价审批 A1 已通过"


def test_no_step_applies_means_approved_at_once(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    reply = chat.say("zhangsan", f"合同 {HUAWEI} 5万")
    assert reply[0].title == "合同审批 A1 已通过"
    assert "按审批规则，本次金额不需要审批，已自动通过。" in chat.cards_for("zhangsan")[-1].lines


def test_decisions_are_audited(chat: Chat) -> None:
    chat.add_customer(HUAWEI)
    chat.say("zhangsan", f"报价 {HUAWEI} 68万")
    chat.say("lisi", "驳回 A1 价格太低")
    with chat.factory() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.entity == "approval")).all()
    assert [(r.actor, r.field, r.after, r.note) for r in rows] == [
        ("zhangsan", "submitted", "quote 680000.00", "version 1"),
        ("lisi", "step1", "rejected", "价格太低"),
    ]
