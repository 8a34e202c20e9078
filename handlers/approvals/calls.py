"""What every approvals command shares: a refusal answered in the chat, the member calling, the
approval a code names."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from handlers.approvals.chain import Refusal
from handlers.commands import CommandCall
from handlers.model import Card
from storage import approvals as repo
from storage.models import Approval, User


def refusals_answered(run: Callable[[CommandCall], list[Card]]) -> Callable[[CommandCall], list[Card]]:
    """Wrap a command so that a Refusal it raises becomes the reply saying why."""

    @wraps(run)
    def wrapper(call: CommandCall) -> list[Card]:
        try:
            return run(call)
        except Refusal as exc:
            return [call.reply(exc.title, *exc.lines)]

    return wrapper


def member(call: CommandCall) -> User:
    """The directory user who sent the command."""
    if call.user is None:  # the router already refuses strangers; this keeps the type checker honest
        raise Refusal("无法执行", "你不在 salesbot 的通讯录中。")
    return call.user


def load(call: CommandCall, code: str) -> Approval:
    """The approval a code like A17 names, or a Refusal saying there is none."""
    approval = repo.by_code(call.ctx.session, code)
    if approval is None:
        raise Refusal("没有找到审批", f"没有编号为「{code}」的审批，请检查编号（形如 A17）。")
    return approval
