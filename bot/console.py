"""`salesbot console`: chat with the bot in the terminal, the way errbot's text backend lets you try a bot.

Only the channel is the terminal. What you type is stored as an inbound message of the `console`
platform and handled by the same inbound job, handlers, outbox and delivery job as `serve`; the
scheduled checks run as of a virtual clock that `/time` moves. Cards are printed as text with their
recipient; a button is typed as the command it stands for.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.cli_common import parse_time, settings_of
from bot.config import DingTalkConfig, Settings, WeComConfig
from bot.runtime import Runtime, open_runtime, sync_directory
from handlers.model import Address, Card, InboundMessage
from handlers.timefmt import local_time, zone_of
from scheduler.jobs import run_tick
from scheduler.runner import SCHEDULER_LEASE, Worker
from storage import customers as customer_repo
from storage import directory
from storage.db import transaction
from storage.models import Customer, InboundItem, Lease, OutboxItem, User
from storage.queues import store_inbound

MakeSub = Callable[..., argparse.ArgumentParser]
CUSTOMER_PREFIX = "customer:"  # console sender / conversation id of a customer: customer:<customer id>

HELP = """\
直接输入文字：以当前身份发给 salesbot（命令或记录，和在企业微信/钉钉里一样）
/as <用户id>               切换身份，例如 /as lisi
/customer <客户名> <话>     以客户的身份在与他关联的会话里说一句话
/time +25h | +30m | +2d | <ISO 时间>   拨动虚拟时钟，并按那个时间运行定时检查
/cards [条数]              最近发出的卡片：发给了谁、内容（默认 10 张）
/help                      显示本帮助
/quit                      退出（读到输入结尾也会退出）
卡片上的按钮：直接输入它代表的命令，例如「同意 A1」。"""


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `console`."""
    p = make_sub(sub, "console", "chat with the bot in the terminal (no platform needed)", cmd_console)
    p.add_argument("--as", dest="as_user", metavar="USER_ID", help="who you are (a [[users]] id; default: the first rep)")
    p.add_argument("--at", help="start the virtual clock at this ISO-8601 time (default: now)")


def cmd_console(args: argparse.Namespace) -> int:

    settings = terminal_only(settings_of(args))
    start = parse_time(args.at, settings)
    with open_runtime(settings) as runtime:
        with runtime.factory() as session:
            busy = busy_with_platforms(session, utcnow())
        if busy:
            print(f"salesbot console: {busy}. The console sends every card to the terminal, so it only runs "
                  "on a database no platform worker is using (stop it, or use another [database] url).",
                  file=sys.stderr)
            return 1
        if settings.users:  # a config without [[users]] (the embedded default) keeps the directory as it is
            sync_directory(runtime)
        console = Console(runtime, sys.stdout, start)
        who = args.as_user or console.first_rep()
        if who is None or not console.switch_user(who):
            print(f"salesbot console: no active user {who!r} in the directory "
                  "(run `salesbot demo`, or add [[users]] to the config)", file=sys.stderr)
            return 1
        console.run(sys.stdin)
    return 0


def busy_with_platforms(session: Session, now: datetime) -> str | None:
    """Why the console must not run here: a live worker, or platform work it would take over; else None."""
    lease = session.get(Lease, SCHEDULER_LEASE)
    if lease is not None and lease.holder and _aware(lease.expires_at) > now:
        return f"a salesbot serve or worker ({lease.holder}) is running on this database"
    inbound = session.scalar(select(func.count()).select_from(InboundItem).where(
        InboundItem.status == "pending", InboundItem.platform != "console")) or 0
    outbox = session.scalar(select(func.count()).select_from(OutboxItem).where(
        OutboxItem.status == "pending", OutboxItem.channel != "console")) or 0
    if inbound or outbox:
        return f"the database holds {inbound} unhandled platform messages and {outbox} unsent platform cards"
    return None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def terminal_only(settings: Settings) -> Settings:
    """The same settings with the platforms switched off: every card goes to the terminal."""
    return dataclasses.replace(settings, wecom=WeComConfig(), dingtalk=DingTalkConfig())


class TerminalChannel:
    """Prints each card with its recipient; the delivery job sends through it like any platform."""

    name = "console"
    per_minute = 10_000

    def __init__(self, console: Console) -> None:
        self.console = console

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        self.console.print(render_card(card, self.console.user_label(address.user)))
        return None


def render_card(card: Card, recipient: str) -> str:
    """A card as readable text: who received it, title, lines, fields, and the commands its buttons send."""
    out = [f"┌─ 卡片 → {recipient}", f"│ 【{card.title}】"]
    out += [f"│ {line}" for line in card.lines]
    out += [f"│ {name}：{value}" for name, value in card.fields]
    if card.buttons:
        out.append("│ 按钮（输入命令即可）：" + " / ".join(f"[{b.label}]「{b.command}」" for b in card.buttons))
    if card.link:
        out.append(f"│ 链接：{card.link}")
    out.append("└─")
    return "\n".join(out)


class Console:
    """One terminal session: the current user, the virtual clock and the real worker."""

    def __init__(self, runtime: Runtime, out: TextIO, start: datetime) -> None:
        self.runtime, self.out, self.now = runtime, out, start
        self.user_id = ""
        runtime.channels.clear()
        runtime.channels["console"] = TerminalChannel(self)
        self.worker = Worker(runtime.factory, runtime.holder.current, runtime.channels, "console",
                             clock=lambda: self.now)
        self._names: dict[str, str] = {}

    # ----------------------------------------------------------------------------- the loop

    def run(self, lines: Iterable[str] | TextIO) -> None:
        """Read commands until /quit or the end of input; a tty gets a prompt, a script is echoed."""
        tty = hasattr(lines, "isatty") and lines.isatty()  # type: ignore[union-attr]
        self.print(f"salesbot console — 你是 {self.user_label(self.user_id)}，时间 {self.clock_text()}。"
                   "输入 /help 查看用法。")
        source = _prompted(self) if tty else lines
        for raw in source:
            line = raw.strip()
            if not line:
                continue
            if not tty:
                self.print(f"{self.user_id}> {line}")
            if not self.handle(line):
                break

    def handle(self, line: str) -> bool:
        """Act on one line; False when the session should end."""
        if not line.startswith("/"):
            self.say(line)
            return True
        name, _, rest = line[1:].partition(" ")
        if name in ("quit", "exit", "q"):
            return False
        action = {"help": lambda _: self.print(HELP), "as": self.cmd_as, "customer": self.cmd_customer,
                  "time": self.cmd_time, "cards": self.cmd_cards}.get(name)
        if action is None:
            self.print(f"没有 /{name} 这个控制命令。输入 /help 查看用法。")
        else:
            action(rest.strip())
        return True

    # ----------------------------------------------------------------------------- commands

    def say(self, text: str) -> None:
        """Send a message to the bot as the current user, one-to-one."""
        self.deliver(InboundMessage(platform="console", sender=self.user_id, conversation=self.user_id, text=text,
                                    msg_id=_msg_id(), time=self.now, sender_name=self.user_label(self.user_id)))

    def cmd_as(self, who: str) -> None:
        if not who:
            self.print("用法：/as <用户id>，例如 /as lisi")
        elif self.switch_user(who):
            self.print(f"现在你是 {self.user_label(who)}。")
        else:
            self.print(f"通讯录里没有 {who!r}。现有：{'、'.join(self.active_users())}")

    def cmd_customer(self, rest: str) -> None:
        name, _, words = rest.partition(" ")
        if not name or not words.strip():
            self.print("用法：/customer <客户名> <话>，例如 /customer 华为 友商更便宜")
            return
        customer_id = self.customer_conversation(name)
        if customer_id is None:
            self.print(f"没有叫「{name}」的客户。先以销售身份发送「关联 {name}」。")
            return
        conv = f"{CUSTOMER_PREFIX}{customer_id}"
        self.deliver(InboundMessage(platform="console", sender=conv, conversation=conv, text=words.strip(),
                                    msg_id=_msg_id(), time=self.now, from_customer=True, sender_name=name,
                                    source="archive"))

    def cmd_time(self, spec: str) -> None:
        at = parse_clock(spec, self.now, self.runtime.settings)
        if at is None:
            self.print("用法：/time +25h、/time +30m、/time +2d 或 /time 2026-11-23T09:00（不写时区即配置的时区）")
            return
        if at < self.now:
            self.print(f"时间只能往后拨：现在是 {self.clock_text()}。")
            return
        self.now = at
        lines = run_tick(self.runtime.factory, self.runtime.settings, at)
        self.print(f"时间拨到 {self.clock_text()}；定时检查做了 {len(lines)} 件事。")
        for line in lines:
            self.print(f"  · {line}")
        self.worker.pump()

    def cmd_cards(self, spec: str) -> None:
        limit = int(spec) if spec.isdigit() else 10
        with self.runtime.factory() as session:
            rows = list(session.scalars(select(OutboxItem).where(OutboxItem.status == "sent")
                                        .order_by(OutboxItem.id.desc()).limit(limit)))
        if not rows:
            self.print("还没有发出过卡片。")
        for row in reversed(rows):
            when = local_time(row.sent_at)
            self.print(f"{when} → {self.user_label(row.recipient_id or row.target)}【{row.card.get('title', '')}】")

    # ----------------------------------------------------------------------------- plumbing

    def deliver(self, msg: InboundMessage) -> None:
        """Store the message the way a webhook does, then run the inbound job and delivery."""
        with transaction(self.runtime.factory) as session:
            store_inbound(session, "console", msg.dedupe_key, "message", msg.to_dict(), self.now)
        self.worker.pump()

    def switch_user(self, user_id: str) -> bool:
        if user_id not in self.active_users():
            return False
        self.user_id = user_id
        return True

    def active_users(self) -> list[str]:
        with self.runtime.factory() as session:
            return list(session.scalars(select(User.id).where(User.active.is_(True)).order_by(User.id)))

    def first_rep(self) -> str | None:
        with self.runtime.factory() as session:
            reps = directory.with_role(session, "rep")
            return reps[0].id if reps else None

    def customer_conversation(self, name: str) -> int | None:
        """The id of the customer called `name` (or the one similar name), with its console chat linked."""
        with transaction(self.runtime.factory) as session:
            customer = customer_repo.by_name(session, name)
            if customer is None:
                alike = customer_repo.similar(session, name)
                customer = alike[0] if len(alike) == 1 else None
            if customer is None:
                return None
            conv = f"{CUSTOMER_PREFIX}{customer.id}"
            if customer_repo.conversation(session, "console", conv) is None:
                customer_repo.link_conversation(session, "console", conv, customer, "single", customer.name,
                                                self.now, "console")
            return customer.id

    def user_label(self, user_id: str) -> str:
        if user_id not in self._names:
            with self.runtime.factory() as session:
                user = session.get(User, user_id)
                customer = (session.get(Customer, int(user_id[len(CUSTOMER_PREFIX):]))
                            if user is None and user_id.startswith(CUSTOMER_PREFIX) else None)
            self._names[user_id] = (f"{user.name}（{user.id}）" if user else
                                    f"客户 {customer.name}" if customer else user_id)
        return self._names[user_id]

    def clock_text(self) -> str:
        return local_time(self.now, "%Y-%m-%d %H:%M")

    def print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _prompted(console: Console) -> Iterable[str]:
    while True:
        try:
            yield input(f"{console.user_id}> ")
        except EOFError:
            return


def _msg_id() -> str:
    return f"console-{uuid.uuid4().hex}"


_OFFSET = re.compile(r"^\+(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_clock(spec: str, now: datetime, settings: Settings) -> datetime | None:
    """`+25h` / `+30m` / `+2d` from now, or an ISO-8601 time (without a zone: the configured zone)."""
    match = _OFFSET.match(spec.strip())
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(spec.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=server_zone(settings))


def server_zone(settings: Settings) -> tzinfo:
    return zone_of(settings.server.timezone)


def utcnow() -> datetime:
    return datetime.now(UTC)
