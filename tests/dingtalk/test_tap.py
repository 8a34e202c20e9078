"""A tapped button is the tapper's own signed message: DingTalk, not the card, says who approved."""

from __future__ import annotations

from bot.dingtalk import render_markdown
from handlers.commands import Command, CommandCall, router
from scheduler import inbound
from tests.conftest import NOW
from tests.dingtalk.conftest import post_robot, pump, robot_payload
from tests.dingtalk.test_channel import APPROVAL, TAP, tapped_commands


def test_tapping_a_card_button_sends_the_command_as_the_tapper(client, runtime, channel, fake_dingtalk,
                                                               monkeypatch):
    # The card went to zhangsan's manager; the rendered link carries the command and no identity.
    markdown = render_markdown(APPROVAL)
    link = dict(TAP.findall(markdown))["同意"]
    assert "ding_" not in link and "lisi" not in link
    content = tapped_commands(markdown)["同意"]

    seen_messages = []
    real_handle = inbound.handle_message
    monkeypatch.setattr(inbound, "handle_message",
                        lambda ctx, msg: (seen_messages.append(msg), real_handle(ctx, msg))[1])
    # Stand in for the approvals command (whatever it does, it runs as call.user).
    runs_as = []

    def approve(call: CommandCall):
        runs_as.append(call.user.id if call.user else None)
        return [call.reply("已同意", f"{call.args} 已同意")]

    monkeypatch.setitem(router._names, "同意", Command("同意", "同意 <编号>", "通过审批", approve))

    # lisi's DingTalk client sends the link's content to the robot, signed like any message.
    tap = robot_payload(content, "tap-1", staff_id="ding_lisi", conversation="cid-single-lisi",
                        webhook=fake_dingtalk.session_webhook("s-lisi"))
    assert post_robot(client, tap).status_code == 200
    pump(runtime, channel, NOW)

    [msg] = seen_messages
    assert (msg.platform, msg.sender, msg.text, msg.from_customer) == ("dingtalk", "ding_lisi", "同意 A1", False)
    assert runs_as == ["lisi"]
    [reply] = fake_dingtalk.calls("/robot/sendBySession")
    assert reply.query["session"] == "s-lisi" and "A1 已同意" in reply.markdown["text"]
