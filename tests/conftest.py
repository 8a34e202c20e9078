"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when
SALESBOT_TEST_DATABASE_URL is set), settings loaded from a real TOML file, a fixed clock."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.config import Settings, load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from handlers.context import Context
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import Base

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The tests' clock: fixed until a test moves it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
PG_URL = os.environ.get("SALESBOT_TEST_DATABASE_URL")

USERS_TOML = """
[[users]]
id = "zhangsan"
name = "张三"
role = "rep"
manager = "lisi"
wecom_userid = "zhangsan"
dingtalk_userid = "ding_zhangsan"
prefer = "wecom"

[[users]]
id = "lisi"
name = "李四"
role = "manager"
manager = "wangwu"
wecom_userid = "lisi"
dingtalk_userid = "ding_lisi"
prefer = "dingtalk"

[[users]]
id = "wangwu"
name = "王五"
role = "director"
dingtalk_userid = "ding_wangwu"

[[users]]
id = "zhaoliu"
name = "赵六"
role = "finance"
manager = "wangwu"
dingtalk_userid = "ding_zhaoliu"

[[users]]
id = "sunqi"
name = "孙七"
role = "admin"
wecom_userid = "sunqi"
"""

RULES_TOML = (Path(__file__).parent / "data" / "keyword_rules.toml")


def pytest_report_header() -> str:
    return f"salesbot database: {'postgresql' if PG_URL else 'sqlite'}"


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite template file to copy, or the PostgreSQL test database."""
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def db_url(_template_db: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if PG_URL:
        yield PG_URL
        _truncate_all(PG_URL)
        return
    path = tmp_path / "salesbot.db"
    shutil.copy(_template_db, path)
    yield f"sqlite:///{path}"


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def write_config(tmp_path: Path, db_url: str) -> Callable[..., Path]:
    """Write a config file for this test's database: users + the shared keyword rules + `extra`."""

    def write(extra: str = "", *, users: bool = True, rules: bool = True, name: str = "config.toml") -> Path:
        body = f'[database]\nurl = "{db_url}"\n\n[server]\npublic_url = "https://salesbot.example.com"\n'
        body += textwrap.dedent(extra)
        if users:
            body += USERS_TOML
        if rules:
            body += "\n" + RULES_TOML.read_text(encoding="utf-8")
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def settings(write_config: Callable[..., Path]) -> Settings:
    return load_settings(write_config(), environ={})


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def runtime(settings: Settings, engine: Engine, factory: sessionmaker[Session]) -> Runtime:
    """Settings + database with the directory synced; no channels (tests add fakes)."""
    rt = Runtime(SettingsHolder(settings), engine, factory)
    sync_directory(rt)
    return rt


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    s = factory()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def ctx(runtime: Runtime, session: Session) -> Context:
    return Context(session, runtime.settings, NOW)


# The web edge as the platform tests drive it: the app on this test's runtime and clock.
@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(runtime: Runtime, clock: Clock) -> Flask:
    return create_app(runtime=runtime, clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
