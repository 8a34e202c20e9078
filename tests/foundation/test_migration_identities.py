"""Migration 0002: a database made by the 0001 schema, with real rows, upgrades and loses nothing.

Users' platform ids move from users.wecom_userid/dingtalk_userid into user_identities; afterwards the
bot still knows who typed a message by the platform's id and sends cards to each user's platform id.
Runs on SQLite, and on PostgreSQL (its own schema) when SALESBOT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, make_url, text

from bot.cli import main
from bot.config import load_settings
from handlers.context import Context
from handlers.model import Address, InboundMessage
from handlers.pipeline import handle_message
from storage import directory
from storage.db import current_revision, make_engine, make_session_factory, upgrade
from storage.models import OutboxItem
from tests.conftest import NOW, PG_URL

T = datetime(2026, 10, 1, 8, 0)  # naive UTC, as the 0001 schema stores times

USERS = [  # id, name, role, manager, wecom_userid, dingtalk_userid, prefer
    ("u_zhang", "张三", "rep", "u_li", "zhangsan_wc", "ding_zhang", "wecom"),
    ("u_li", "李四", "manager", None, "lisi_wc", "ding_li", "dingtalk"),
    ("u_wang", "王五", "director", None, None, "ding_wang", None),
    ("u_gone", "离职", "rep", "u_li", "gone_wc", None, None),
]
CONFIG_USERS = """
[[users]]
id = "u_zhang"
name = "张三"
manager = "u_li"
wecom_userid = "zhangsan_wc"
dingtalk_userid = "ding_zhang"
prefer = "wecom"

[[users]]
id = "u_li"
name = "李四"
role = "manager"
wecom_userid = "lisi_wc"
dingtalk_userid = "ding_li"
prefer = "dingtalk"

[[users]]
id = "u_wang"
name = "王五"
role = "director"
dingtalk_userid = "ding_wang"

[wecom]
corp_id = "ww0001"
agent_id = 1000002
secret = "s"
token = "t"
encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

[dingtalk]
app_key = "k"
app_secret = "s"
"""


@pytest.fixture
def old_db(tmp_path: Path) -> Iterator[str]:
    """An empty database URL of its own (a file on SQLite, a fresh schema on PostgreSQL)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _fill_at_0001(engine: Engine) -> None:
    upgrade(engine, "0001")
    with engine.begin() as conn:
        for uid, name, role, manager, wecom, ding, prefer in USERS:
            conn.execute(text("INSERT INTO users (id, name, role, manager_id, wecom_userid, dingtalk_userid, prefer, "
                              "active) VALUES (:i, :n, :r, :m, :w, :d, :p, :a)"),
                         dict(i=uid, n=name, r=role, m=manager, w=wecom, d=ding, p=prefer, a=uid != "u_gone"))
        conn.execute(text("INSERT INTO customers (id, name, owner_id, stage, status, created_at, updated_at, "
                          "silence_level) VALUES (1, '华东精密', 'u_zhang', 'lead', 'active', :t, :t, 0)"), dict(t=T))
        conn.execute(text("INSERT INTO customer_identities (customer_id, platform, external_id, display_name) "
                          "VALUES (1, 'wecom', 'wmCUSTOMER1', '陈经理')"))
        conn.execute(text("INSERT INTO approvals (id, kind, customer_id, submitter_id, amount, note, status, version, "
                          "current_position, times_returned, created_at) "
                          "VALUES (7, 'quote', 1, 'u_zhang', 680000, '首单', 'pending', 1, 0, 0, :t)"), dict(t=T))
        conn.execute(text("INSERT INTO org_events (platform, kind, platform_user_ids, payload, received_at, handled) "
                          "VALUES ('dingtalk', 'user_leave_org', 'ding_gone', '{}', :t, false)"), dict(t=T))


def _identities(engine: Engine) -> set[tuple[str, str, str]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text("SELECT user_id, platform, external_id FROM user_identities"))}


EXPECTED = {("u_zhang", "wecom", "zhangsan_wc"), ("u_zhang", "dingtalk", "ding_zhang"),
            ("u_li", "wecom", "lisi_wc"), ("u_li", "dingtalk", "ding_li"), ("u_wang", "dingtalk", "ding_wang"),
            ("u_gone", "wecom", "gone_wc")}


def test_upgrade_moves_every_platform_id_and_keeps_the_rest(old_db: str):
    engine = make_engine(old_db)
    try:
        _fill_at_0001(engine)
        upgrade(engine)
        assert current_revision(engine) != "0001"
        assert _identities(engine) == EXPECTED
        columns = {c["name"] for c in inspect(engine).get_columns("users")}
        assert "wecom_userid" not in columns and "dingtalk_userid" not in columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 4
            assert conn.execute(text("SELECT name, owner_id FROM customers")).all() == [("华东精密", "u_zhang")]
            assert conn.execute(text("SELECT external_id FROM customer_identities")).scalar() == "wmCUSTOMER1"
            assert conn.execute(text("SELECT submitter_id, amount, status FROM approvals")).one() == (
                "u_zhang", 680000, "pending")
            # the hand-over work reads neutral kinds
            assert conn.execute(text("SELECT kind, platform_user_ids FROM org_events")).one() == (
                "member_left", "ding_gone")
    finally:
        engine.dispose()


def test_downgrade_puts_the_ids_back_in_their_columns(old_db: str):
    engine = make_engine(old_db)
    try:
        _fill_at_0001(engine)
        upgrade(engine)
        upgrade_down(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, wecom_userid, dingtalk_userid FROM users ORDER BY id")).all()
        assert sorted(rows) == sorted((u[0], u[4], u[5]) for u in USERS)
        assert "user_identities" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def upgrade_down(engine: Engine) -> None:
    from alembic import command

    from storage.db import alembic_config

    command.downgrade(alembic_config(engine), "0001")


def test_salesbot_db_upgrade_then_the_bot_routes_by_platform_id(old_db: str, tmp_path: Path, capsys):
    engine = make_engine(old_db)
    try:
        _fill_at_0001(engine)
        config = tmp_path / "config.toml"
        config.write_text(f'[database]\nurl = "{old_db}"\n' + CONFIG_USERS, encoding="utf-8")
        assert main(["db", "upgrade", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "latest schema" in out
        # the config lists the same ids the columns held: the sync has nothing to change but u_gone leaving
        assert _identities(engine) == EXPECTED
        settings = load_settings(config, environ={})
        factory = make_session_factory(engine)
        with factory() as session:
            assert directory.by_platform_id(session, "wecom", "zhangsan_wc").id == "u_zhang"
            assert directory.by_platform_id(session, "dingtalk", "ding_li").id == "u_li"
            assert directory.by_platform_id(session, "wecom", "gone_wc") is None  # left: no longer acts
            msg = InboundMessage(platform="wecom", sender="zhangsan_wc", conversation="zhangsan_wc", text="审批 A7",
                                 msg_id="m-after-upgrade", time=NOW)
            handle_message(Context(session, settings, NOW), msg)
            session.flush()
            sent = {(o.channel, o.target): o.card["title"] for o in session.query(OutboxItem)}
            session.rollback()
        # the rep is recognised by his WeCom id (not told he is unknown) and answered there
        assert list(sent) == [("wecom", "zhangsan_wc")]
        assert "通讯录" not in next(iter(sent.values()))
        with factory() as session:
            ctx = Context(session, settings, NOW)
            from handlers.outbox import address_of

            li = directory.get_user(session, "u_li")
            assert li is not None and address_of(ctx, li) == Address("dingtalk", "ding_li")
    finally:
        engine.dispose()
