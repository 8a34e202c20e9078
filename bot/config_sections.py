"""Platform, server, database and worker config: their settings types and section readers.

[server], [database], [wecom] (with [wecom.archive]), [dingtalk], [delivery], [worker]; also the registry
of platforms beyond the built-in two (`PLATFORM_SECTIONS`, `IDENTITY_KEYS`), filled by bot.platforms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.config_messages import is_time_zone
from bot.config_reader import Reader
from scheduler.settings import DeliveryConfig, WorkerConfig

PLATFORMS = ("wecom", "dingtalk")
# Platforms beyond the built-in two, registered through bot.platforms: their config section reader
# (table, problem(key, message)) -> config with `.enabled`, and their [[users]] id key.
PlatformConfigReader = Callable[[Mapping[str, Any], Callable[[str, str], None]], Any]
PLATFORM_SECTIONS: dict[str, PlatformConfigReader] = {}
IDENTITY_KEYS: dict[str, str] = {"wecom": "wecom_userid", "dingtalk": "dingtalk_userid"}


@dataclass(frozen=True)
class ServerConfig:
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    timezone: str = "Asia/Shanghai"
    # `salesbot serve` (waitress): request threads, open connections, seconds an idle connection is kept
    threads: int = 8
    connection_limit: int = 1000
    idle_timeout_seconds: int = 30


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///salesbot.db"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class WeComArchiveConfig:
    sdk_path: str = ""
    private_key_path: str = ""
    secret: str = ""
    batch_size: int = 1000
    timeout_seconds: int = 10


@dataclass(frozen=True)
class WeComConfig:
    corp_id: str = ""
    agent_id: int = 0
    secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    timeout_seconds: float = 5.0
    contact_secret: str = ""
    archive: WeComArchiveConfig | None = None
    # message/send enable_duplicate_check window: a retry of a send whose answer was lost is dropped by
    # WeCom as a duplicate when it comes within this many seconds (WeCom allows at most 4 hours).
    duplicate_check_interval: int = 14400

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.secret)


@dataclass(frozen=True)
class DingTalkConfig:
    app_key: str = ""
    app_secret: str = ""
    agent_id: int = 0
    robot_code: str = ""
    token: str = ""
    aes_key: str = ""
    api_base: str = "https://oapi.dingtalk.com/"
    openapi_base: str = "https://api.dingtalk.com/"
    timeout_seconds: float = 5.0

    @property
    def enabled(self) -> bool:
        return bool(self.app_key and self.app_secret)


def read_server(r: Reader, raw: Mapping[str, Any]) -> ServerConfig:
    t = r.table(raw, "server")
    r.unknown_keys(t, {"public_url", "host", "port", "max_body_bytes", "timezone", "threads", "connection_limit",
                       "idle_timeout_seconds"}, "server.")
    d = ServerConfig()
    cfg = ServerConfig(
        public_url=r.str_(t, "public_url", "server.", d.public_url).rstrip("/"),
        host=r.str_(t, "host", "server.", d.host),
        port=r.number(t, "port", "server.", d.port),
        max_body_bytes=r.number(t, "max_body_bytes", "server.", d.max_body_bytes),
        timezone=r.str_(t, "timezone", "server.", d.timezone),
        threads=r.number(t, "threads", "server.", d.threads),
        connection_limit=r.number(t, "connection_limit", "server.", d.connection_limit),
        idle_timeout_seconds=r.number(t, "idle_timeout_seconds", "server.", d.idle_timeout_seconds),
    )
    if not re.match(r"^https?://", cfg.public_url):
        r.problem("server.public_url", f"必须以 http:// 或 https:// 开头，现在是 {cfg.public_url!r}")
    if cfg.max_body_bytes < 1024:
        r.problem("server.max_body_bytes", f"不能小于 1024，现在是 {cfg.max_body_bytes}")
    if not is_time_zone(cfg.timezone):
        r.problem("server.timezone", f"不认识的时区 {cfg.timezone!r}；请写 IANA 时区名，例如 Asia/Shanghai")
    for key in ("threads", "connection_limit", "idle_timeout_seconds"):
        if getattr(cfg, key) < 1:
            r.problem(f"server.{key}", f"不能小于 1，现在是 {getattr(cfg, key)}")
    return cfg


def read_database(r: Reader, raw: Mapping[str, Any]) -> DatabaseConfig:
    t = r.table(raw, "database")
    r.unknown_keys(t, {"url"}, "database.")
    url = r.str_(t, "url", "database.", DatabaseConfig.url)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        r.problem("database.url", f"必须是 sqlite:// 或 postgresql:// 开头的连接串，现在是 {url.split(':')[0]!r}")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return DatabaseConfig(url=url)


def _check_aes_key(r: Reader, key: str, value: str) -> None:
    if value and len(value) != 43:
        r.problem(key, f"必须正好 43 个字符，现在是 {len(value)} 个")
    elif value and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
        r.problem(key, "只能包含 base64 字符（A-Z a-z 0-9 + /）")


def _read_archive(r: Reader, t: Mapping[str, Any]) -> WeComArchiveConfig | None:
    if "archive" not in t:
        return None
    a = r.table(t, "wecom.archive")
    p = "wecom.archive."
    r.unknown_keys(a, {"sdk_path", "private_key_path", "secret", "batch_size", "timeout_seconds"}, p)
    cfg = WeComArchiveConfig(
        sdk_path=r.str_(a, "sdk_path", p),
        private_key_path=r.str_(a, "private_key_path", p),
        secret=r.str_(a, "secret", p),
        batch_size=r.number(a, "batch_size", p, 1000),
        timeout_seconds=r.number(a, "timeout_seconds", p, 10),
    )
    if bool(cfg.sdk_path) != bool(cfg.private_key_path):
        r.problem("wecom.archive", "sdk_path 和 private_key_path 必须同时填写")
    if not 1 <= cfg.batch_size <= 1000:
        r.problem("wecom.archive.batch_size", f"必须在 1 到 1000 之间，现在是 {cfg.batch_size}")
    return cfg


def read_wecom(r: Reader, raw: Mapping[str, Any]) -> WeComConfig:
    t = r.table(raw, "wecom")
    p = "wecom."
    r.unknown_keys(
        t,
        {"corp_id", "agent_id", "secret", "token", "encoding_aes_key", "api_base", "timeout_seconds",
         "contact_secret", "archive", "duplicate_check_interval"},
        p,
    )
    d = WeComConfig()
    cfg = WeComConfig(
        corp_id=r.str_(t, "corp_id", p),
        agent_id=r.number(t, "agent_id", p, 0),
        secret=r.str_(t, "secret", p),
        token=r.str_(t, "token", p),
        encoding_aes_key=r.str_(t, "encoding_aes_key", p),
        api_base=_base_url(r, t, "api_base", p, d.api_base),
        timeout_seconds=r.number(t, "timeout_seconds", p, d.timeout_seconds, float),
        contact_secret=r.str_(t, "contact_secret", p),
        archive=_read_archive(r, t),
        duplicate_check_interval=r.number(t, "duplicate_check_interval", p, d.duplicate_check_interval),
    )
    if not 1 <= cfg.duplicate_check_interval <= 14400:
        r.problem("wecom.duplicate_check_interval", "必须在 1 到 14400 秒（4 小时，企业微信的上限）之间")
    _check_aes_key(r, "wecom.encoding_aes_key", cfg.encoding_aes_key)
    if cfg.corp_id and not (cfg.token and cfg.encoding_aes_key):
        r.problem("wecom", "填了 corp_id，还需要填 token 和 encoding_aes_key 才能接收企业微信的回调")
    return cfg


def read_dingtalk(r: Reader, raw: Mapping[str, Any]) -> DingTalkConfig:
    t = r.table(raw, "dingtalk")
    p = "dingtalk."
    r.unknown_keys(
        t,
        {"app_key", "app_secret", "agent_id", "robot_code", "token", "aes_key", "api_base",
         "openapi_base", "timeout_seconds"},
        p,
    )
    d = DingTalkConfig()
    cfg = DingTalkConfig(
        app_key=r.str_(t, "app_key", p),
        app_secret=r.str_(t, "app_secret", p),
        agent_id=r.number(t, "agent_id", p, 0),
        robot_code=r.str_(t, "robot_code", p),
        token=r.str_(t, "token", p),
        aes_key=r.str_(t, "aes_key", p),
        api_base=_base_url(r, t, "api_base", p, d.api_base),
        openapi_base=_base_url(r, t, "openapi_base", p, d.openapi_base),
        timeout_seconds=r.number(t, "timeout_seconds", p, d.timeout_seconds, float),
    )
    _check_aes_key(r, "dingtalk.aes_key", cfg.aes_key)
    return cfg


def _base_url(r: Reader, t: Mapping[str, Any], key: str, prefix: str, default: str) -> str:
    value = r.str_(t, key, prefix, default)
    if not re.match(r"^https?://", value):
        r.problem(f"{prefix}{key}", f"必须以 http:// 或 https:// 开头，现在是 {value!r}")
    return value if value.endswith("/") else value + "/"


def read_delivery(r: Reader, raw: Mapping[str, Any]) -> DeliveryConfig:
    t = r.table(raw, "delivery")
    p = "delivery."
    r.unknown_keys(t, {"max_attempts", "backoff_base_seconds", "backoff_max_seconds", "per_minute", "batch_size",
                       "retry_hours"}, p)
    d = DeliveryConfig()
    cfg = DeliveryConfig(
        max_attempts=r.number(t, "max_attempts", p, d.max_attempts),
        retry_hours=r.number(t, "retry_hours", p, d.retry_hours, float),
        backoff_base_seconds=r.number(t, "backoff_base_seconds", p, d.backoff_base_seconds, float),
        backoff_max_seconds=r.number(t, "backoff_max_seconds", p, d.backoff_max_seconds, float),
        per_minute=r.number(t, "per_minute", p, d.per_minute),
        batch_size=r.number(t, "batch_size", p, d.batch_size),
    )
    if cfg.max_attempts < 0:
        r.problem("delivery.max_attempts", f"不能小于 0（0 表示不限次数，只按 retry_hours 限定重试时间），现在是 {cfg.max_attempts}")
    if cfg.retry_hours <= 0:
        r.problem("delivery.retry_hours", "必须大于 0（小时）")
    if cfg.per_minute < 1:
        r.problem("delivery.per_minute", f"不能小于 1，现在是 {cfg.per_minute}")
    return cfg


def read_worker(r: Reader, raw: Mapping[str, Any]) -> WorkerConfig:
    t = r.table(raw, "worker")
    p = "worker."
    r.unknown_keys(t, {"tick_seconds", "delivery_seconds", "lease_seconds"}, p)
    d = WorkerConfig()
    return WorkerConfig(
        tick_seconds=r.number(t, "tick_seconds", p, d.tick_seconds),
        delivery_seconds=r.number(t, "delivery_seconds", p, d.delivery_seconds, float),
        lease_seconds=r.number(t, "lease_seconds", p, d.lease_seconds),
    )
