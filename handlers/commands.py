"""The chat-command router shared by every platform.

A command is a message whose first word is a registered command name (`关联 华为`). Handlers register
with `@router.command(...)`; a malformed command raises UsageError and the sender gets a Chinese reply
saying how to write it. An unknown word that looks like a typo of a command gets a suggestion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.context import Context
from handlers.model import Card, InboundMessage
from storage.models import User

log = logging.getLogger(__name__)

_SPACES = re.compile(r"[\s\u3000]+")


class UsageError(Exception):
    """The command was understood but written wrongly; the message is shown to the user (Chinese)."""


@dataclass
class CommandCall:
    """One invocation: who sent what, with the words after the command name."""

    ctx: Context
    message: InboundMessage
    user: User | None
    name: str
    args: str

    def reply(self, title: str, *lines: str, **kwargs: object) -> Card:
        """A card answering the sender in the chat they wrote from."""
        return Card(title=title, lines=lines, reply_to=self.message.reply_address(), **kwargs)  # type: ignore[arg-type]

    def words(self) -> list[str]:
        return self.args.split() if self.args else []


Runner = Callable[[CommandCall], list[Card]]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    run: Runner
    aliases: tuple[str, ...] = ()
    members_only: bool = True


@dataclass
class CommandRouter:
    """Maps the first word of a message to a command."""

    commands: dict[str, Command] = field(default_factory=dict)
    _names: dict[str, Command] = field(default_factory=dict)

    def command(self, name: str, usage: str, summary: str, aliases: tuple[str, ...] = (),
                members_only: bool = True) -> Callable[[Runner], Runner]:
        """Decorator registering a command runner."""

        def register(run: Runner) -> Runner:
            cmd = Command(name, usage, summary, run, aliases, members_only)
            self.commands[name] = cmd
            for word in (name, *aliases):
                self._names[word] = cmd
            return run

        return register

    def parse(self, text: str) -> tuple[Command, str] | None:
        """The command and its arguments, or None if the text is not a command."""
        text = normalize(text)
        head, _, rest = text.partition(" ")
        cmd = self._names.get(head) or self._names.get(head.lstrip("/"))
        if cmd is None:
            cmd, rest = self._glued(text)
        return (cmd, rest.strip()) if cmd else None

    def _glued(self, text: str) -> tuple[Command | None, str]:
        """`同意A17`: a command name written without the space before a code or number."""
        for word, cmd in self._names.items():
            rest = text[len(word):]
            if text.startswith(word) and re.match(r"[A-Za-z]?\d", rest):
                return cmd, rest
        return None, ""

    def suggest(self, text: str) -> Command | None:
        """A command the user probably meant, for short messages whose first word is one edit away."""
        text = normalize(text)
        head = text.partition(" ")[0].lstrip("/")
        if len(text) > 30 or len(head) < 2:
            return None
        for word, cmd in self._names.items():
            if len(word) == len(head) and sum(a != b for a, b in zip(word, head, strict=True)) == 1:
                return cmd
        if text.startswith("/"):
            return self.commands.get("帮助")
        return None

    def dispatch(self, call: CommandCall) -> list[Card]:
        cmd = self._names[call.name]
        if cmd.members_only and call.user is None:
            return [call.reply("无法执行", "你不在 salesbot 的通讯录中，请联系管理员把你加入。")]
        try:
            return cmd.run(call)
        except UsageError as exc:
            return [call.reply("命令格式不对", str(exc), f"正确写法：{cmd.usage}")]

    def help_lines(self) -> list[str]:
        return [f"{c.usage} — {c.summary}" for c in self.commands.values()]


def normalize(text: str) -> str:
    """Collapse whitespace (full-width too) and strip a leading @mention left by some clients."""
    text = _SPACES.sub(" ", text).strip()
    return re.sub(r"^@\S+\s+", "", text)


def parse_code(args: str, prefix: str, usage_hint: str) -> int:
    """The number in `R12` / `12` (the prefix is optional, any case). At most 9 digits: a longer number
    is no code of ours, and would overflow the database's integer column."""
    match = re.fullmatch(rf"[{prefix}{prefix.lower()}]?\s*(\d+)", args.strip())
    if match is None:
        raise UsageError(f"请写上编号，例如「{usage_hint}」。")
    if len(match.group(1).lstrip("0")) > 9:
        raise UsageError(f"编号「{args.strip()[:20]}」太长，不是有效的编号。编号形如「{usage_hint}」。")
    return int(match.group(1))


router = CommandRouter()


@router.command("帮助", "帮助", "列出所有命令", aliases=("help", "?", "？"), members_only=False)
def show_help(call: CommandCall) -> list[Card]:
    return [call.reply("salesbot 命令", *router.help_lines())]
