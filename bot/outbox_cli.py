"""`salesbot outbox list|retry|drop`: operators look at undelivered cards, resend or drop them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bot.cli_common import settings_of
from bot.runtime import open_runtime
from storage.common import utcnow
from storage.db import transaction
from storage.queues import drop_outbox, list_outbox, retry_outbox
from storage.states import OutboxStatus

MakeSub = Callable[..., argparse.ArgumentParser]


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `outbox list`, `outbox retry` and `outbox drop`."""
    box = make_sub(sub, "outbox", "undelivered cards: list, resend, drop", None)
    actions = box.add_subparsers(metavar="ACTION")
    p = make_sub(actions, "list", "one line per card: id, status, recipient, attempts, title, last error",
                 cmd_outbox_list)
    p.add_argument("--status", default=OutboxStatus.DEAD, choices=(OutboxStatus.DEAD, OutboxStatus.PENDING,
                   OutboxStatus.SENT, OutboxStatus.DROPPED, "all"),
                   help="which cards (default: dead)")
    p.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    p = make_sub(actions, "retry", "send dead cards again (a fresh retry window)", cmd_outbox_retry)
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p = make_sub(actions, "drop", "never send these cards", cmd_outbox_drop)
    p.add_argument("ids", type=int, nargs="+", metavar="ID")


def cmd_outbox_list(args: argparse.Namespace) -> int:
    with open_runtime(settings_of(args)) as runtime, transaction(runtime.factory) as s:
        for row in list_outbox(s, None if args.status == "all" else args.status, args.limit):
            print(f"{row.id}\t{row.status}\t{row.channel}:{row.target}\t{row.attempts}\t"
                  f"{row.card.get('title', '')}\t{row.last_error or ''}")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    with open_runtime(settings_of(args)) as runtime, transaction(runtime.factory) as s:
        done = retry_outbox(s, args.ids, utcnow())
    return _summary("requeued", args.ids, done)


def cmd_outbox_drop(args: argparse.Namespace) -> int:
    with open_runtime(settings_of(args)) as runtime, transaction(runtime.factory) as s:
        done = drop_outbox(s, args.ids)
    return _summary("dropped", args.ids, done)


def _summary(verb: str, asked: list[int], done: list[int]) -> int:
    print(f"{verb} {len(done)} card(s): {' '.join(map(str, done)) or '-'}")
    missing = [i for i in asked if i not in done]
    if missing:
        print(f"not {verb} (no such card, or already sent): {' '.join(map(str, missing))}")
        return 1
    return 0
