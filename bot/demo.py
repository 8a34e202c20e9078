"""`salesbot demo`: a small sample organisation in a fresh database, to try `salesbot console` on.

The sample is made the way real data is: a scripted console session at past times, through the real
handlers, so every customer, to-do and approval is exactly what the bot would have made of it.
"""

from __future__ import annotations

import argparse
import io
import sys
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.cli_common import settings_of
from bot.config import Settings, UserConfig, settings_from_mapping
from bot.console import Console, terminal_only
from bot.runtime import Runtime, open_runtime
from storage.common import utcnow
from storage.db import transaction
from storage.directory import sync_users
from storage.models import Approval, Base, Customer, InboundItem, Message, OutboxItem, Todo

MakeSub = Callable[..., argparse.ArgumentParser]

# The org chart of config.example.toml (a test keeps the two the same): used when the config in use
# has no [[users]], as the embedded default has none.
DEMO_USERS_TOML = """
[[users]]
id = "zhangsan"
name = "张三"
role = "rep"
manager = "lisi"
wecom_userid = "zhangsan"
dingtalk_userid = "manager4821"
prefer = "wecom"

[[users]]
id = "lisi"
name = "李四"
role = "manager"
manager = "wangwu"
wecom_userid = "lisi"
dingtalk_userid = "manager1234"
prefer = "dingtalk"

[[users]]
id = "wangwu"
name = "王五"
role = "director"
dingtalk_userid = "manager0001"

[[users]]
id = "zhaoliu"
name = "赵六"
role = "finance"
manager = "wangwu"
dingtalk_userid = "manager5678"

[[users]]
id = "sunqi"
name = "孙七"
role = "admin"
wecom_userid = "sunqi"
"""
NEEDED = ("zhangsan", "lisi")

# (hours before now, who, line): a user's line is typed to the bot, a /customer line is the customer speaking.
SCRIPT: tuple[tuple[float, str, str], ...] = (
    (72, "zhangsan", "关联 北京星河科技有限公司"),
    (72, "zhangsan", "/customer 北京星河科技有限公司 你好，我们想了解一下你们的检测设备"),
    (71.8, "zhangsan", "/customer 北京星河科技有限公司 能先寄个样品吗？我们想先测一下"),
    (48, "zhangsan", "关联 上海远航贸易有限公司"),
    (48, "zhangsan", "/customer 上海远航贸易有限公司 交货期大概多久？"),
    (47, "zhangsan", "客户关心交货期，已发产能说明"),
    (30, "lisi", "关联 广州明珠电子有限公司"),
    (30, "lisi", "/customer 广州明珠电子有限公司 最近预算紧张，付款方式能不能月结？"),
    (3, "zhangsan", "报价 上海远航贸易有限公司 180000 首单价"),
)


def add_commands(sub: argparse._SubParsersAction, make_sub: MakeSub) -> None:
    """Register `demo`."""
    p = make_sub(sub, "demo", "create a small sample organisation in a fresh database (to try `console`)", cmd_demo)
    p.add_argument("--force", action="store_true", help="wipe a database that already holds data")


def cmd_demo(args: argparse.Namespace) -> int:

    settings = terminal_only(settings_of(args))
    with open_runtime(settings) as runtime:
        with runtime.factory() as session:
            held = rows_held(session)
        if held and not args.force:
            print(f"salesbot demo: the database {settings.database.url} already holds data ({held}); "
                  "refusing to overwrite it. Use another [database] url, or --force to wipe it.", file=sys.stderr)
            return 1
        missing = create_demo(runtime, utcnow(), wipe=bool(held))
    if missing:
        print(f"salesbot demo: the demo needs users {', '.join(missing)} in [[users]]", file=sys.stderr)
        return 1
    print(f"demo organisation created in {settings.database.url}: 3 customers, an open quote, "
          "an overdue to-do. Try: salesbot console --as zhangsan")
    return 0


def rows_held(session: Session) -> str:
    """What the database already holds, e.g. '3 customers, 12 messages'; '' when it is fresh."""
    counts = [(session.scalar(select(func.count()).select_from(model)) or 0, label)
              for model, label in ((Customer, "customers"), (Message, "messages"), (Approval, "approvals"),
                                   (Todo, "to-dos"), (InboundItem, "inbound items"), (OutboxItem, "cards"))]
    return ", ".join(f"{n} {label}" for n, label in counts if n)


def demo_users(settings: Settings) -> tuple[UserConfig, ...]:
    if settings.users:
        return settings.users
    return settings_from_mapping(tomllib.loads(DEMO_USERS_TOML), "<demo>").users


def create_demo(runtime: Runtime, now: datetime, wipe: bool = False) -> list[str]:
    """Fill the database with the sample; returns the needed user ids that are missing (then nothing is made)."""
    users = demo_users(runtime.settings)
    missing = [uid for uid in NEEDED if uid not in {u.id for u in users}]
    if missing:
        return missing
    with transaction(runtime.factory) as session:
        if wipe:
            wipe_all(session)
        sync_users(session, users, now - timedelta(days=4), actor="demo")
    console = Console(runtime, io.StringIO(), now - timedelta(days=4))
    for hours_ago, who, line in SCRIPT:
        console.now = now - timedelta(hours=hours_ago)
        console.switch_user(who)
        console.handle(line)
    return []


def wipe_all(session: Session) -> None:
    """Delete every row. Some tables point at each other (users <-> customers), so nullable references
    are cleared first and the rows then go children first."""
    tables = Base.metadata.sorted_tables
    for table in tables:
        nullable = {c.name: None for c in table.columns if c.foreign_keys and c.nullable}
        if nullable:
            session.execute(update(table).values(nullable))
    for table in reversed(tables):
        session.execute(delete(table))
