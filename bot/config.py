"""Load and validate salesbot's TOML configuration into frozen settings objects.

The readers live here; the settings types live in the layer that reads them (`handlers.settings`,
`scheduler.settings`; platform and server settings below) and `Settings` composes them. Every problem
names the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from handlers.config_errors import ConfigError, ConfigProblem
from handlers.settings import (
    DEFAULT_STAGES,
    DEFAULT_THRESHOLDS,
    ApprovalConfig,
    ApprovalStepConfig,
    HandoffConfig,
    ReportConfig,
    RuleConfig,
    ScanConfig,
    SlaConfig,
    StageConfig,
    UserConfig,
)
from scheduler.settings import DeliveryConfig, WorkerConfig

__all__ = [
    "ApprovalConfig", "ApprovalStepConfig", "ConfigError", "ConfigProblem", "DeliveryConfig", "RuleConfig",
    "ScanConfig", "SlaConfig", "UserConfig", "WorkerConfig",
]
from handlers.leads_settings import LeadRepConfig, LeadsConfig, LeadSourceConfig, LeadWeights

DEFAULT_SOURCE = "<embedded default>"
ENV_PREFIX = "SALESBOT_"
RULE_KINDS = ("risk", "todo", "change")
SEVERITIES = ("low", "medium", "high")
APPROVAL_KINDS = ("quote", "contract")
PLATFORMS = ("wecom", "dingtalk")
# Platforms beyond the built-in two, registered through bot.platforms: their config section reader
# (table, problem(key, message)) -> config with `.enabled`, and their [[users]] id key.
PlatformConfigReader = Callable[[Mapping[str, Any], Callable[[str, str], None]], Any]
PLATFORM_SECTIONS: dict[str, PlatformConfigReader] = {}
IDENTITY_KEYS: dict[str, str] = {"wecom": "wecom_userid", "dingtalk": "dingtalk_userid"}
NOTIFY_TARGETS = ("owner", "manager", "director", "admin")


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
class BoardConfig:
    """[board]: the web board's signing secret and how long a login link and a session last."""

    secret: str = ""
    link_minutes: int = 10
    session_hours: int = 12


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


@dataclass(frozen=True)
class Settings:
    """Everything salesbot reads from its config, validated."""

    source: str = DEFAULT_SOURCE
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    wecom: WeComConfig = field(default_factory=WeComConfig)
    dingtalk: DingTalkConfig = field(default_factory=DingTalkConfig)
    users: tuple[UserConfig, ...] = ()
    scan: ScanConfig = field(default_factory=ScanConfig)
    rules: tuple[RuleConfig, ...] = ()
    approvals: tuple[ApprovalConfig, ...] = ()
    sla: SlaConfig = field(default_factory=SlaConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    board: BoardConfig = field(default_factory=BoardConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    platforms: tuple[tuple[str, Any], ...] = ()  # (name, config) of registered platforms beyond the two
    stages: tuple[StageConfig, ...] = DEFAULT_STAGES

    def platform(self, name: str) -> Any:
        """A platform's config section (None for a platform that is not registered)."""
        if name in PLATFORMS:
            return getattr(self, name)
        return dict(self.platforms).get(name)

    @property
    def enabled_platforms(self) -> tuple[str, ...]:
        """The platforms with credentials set, built-in ones first."""
        names = [*PLATFORMS, *(name for name, _ in self.platforms)]
        return tuple(n for n in names if getattr(self.platform(n), "enabled", False))
    leads: LeadsConfig = field(default_factory=LeadsConfig)

    @property
    def is_file(self) -> bool:
        return self.source != DEFAULT_SOURCE

    def user(self, user_id: str) -> UserConfig | None:
        return next((u for u in self.users if u.id == user_id), None)

    def approval(self, kind: str) -> ApprovalConfig | None:
        return next((a for a in self.approvals if a.kind == kind), None)

    def summary(self) -> str:
        platforms = list(self.enabled_platforms) or ["console only"]
        return (
            f"{self.source}: ok — database {self.database.url.split('://')[0]}, "
            f"platforms {', '.join(platforms)}, {len(self.users)} users, {len(self.rules)} rules, "
            f"{len(self.approvals)} approval chains"
        )


# ---------------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Reads typed values out of a raw TOML table, collecting problems instead of raising."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str) -> None:
        # One mistake, one message: a key already reported is not reported again by a later check
        # that only fails because of the first problem (a bad type, then "needs at least one").
        if any(p.key == key for p in self.problems):
            return
        self.problems.append(ConfigProblem(self.source, key, message))

    def table(self, raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, Mapping):
            self.problem(key, f"必须是一个表（[{key}] 段），现在是{type_zh(value)}")
            return {}
        return value

    def str_(self, raw: Mapping[str, Any], key: str, prefix: str, default: str = "") -> str:
        value = raw.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(f"{prefix}{key}", f"必须是字符串（用双引号括起来），现在是{type_zh(value)}")
            return default
        return value

    def opt_str(self, raw: Mapping[str, Any], key: str, prefix: str) -> str | None:
        return self.str_(raw, key, prefix) or None if key in raw else None

    def number(self, raw: Mapping[str, Any], key: str, prefix: str, default: Any, kind: type = int) -> Any:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = kind(value.strip())
            except ValueError:
                self.problem(f"{prefix}{key}", f"必须是数字，现在是 {value!r}")
                return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{prefix}{key}", f"必须是数字，现在是{type_zh(value)}")
            return default
        if kind is int and isinstance(value, float) and not value.is_integer():
            self.problem(f"{prefix}{key}", f"必须是整数，现在是 {value}")
            return default
        if value < 0:
            self.problem(f"{prefix}{key}", f"不能是负数，现在是 {value}")
            return default
        return kind(value)

    def str_list(self, raw: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{prefix}{key}", '必须是非空字符串组成的数组，例如 ["竞品", "友商"]')
            return ()
        return tuple(value)

    def unknown_keys(self, raw: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{prefix}{key}", unknown_key_message(key, allowed))


def _read_server(r: _Reader, raw: Mapping[str, Any]) -> ServerConfig:
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


def _read_database(r: _Reader, raw: Mapping[str, Any]) -> DatabaseConfig:
    t = r.table(raw, "database")
    r.unknown_keys(t, {"url"}, "database.")
    url = r.str_(t, "url", "database.", DatabaseConfig.url)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        r.problem("database.url", f"必须是 sqlite:// 或 postgresql:// 开头的连接串，现在是 {url.split(':')[0]!r}")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return DatabaseConfig(url=url)


def _check_aes_key(r: _Reader, key: str, value: str) -> None:
    if value and len(value) != 43:
        r.problem(key, f"必须正好 43 个字符，现在是 {len(value)} 个")
    elif value and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
        r.problem(key, "只能包含 base64 字符（A-Z a-z 0-9 + /）")


def _read_archive(r: _Reader, t: Mapping[str, Any]) -> WeComArchiveConfig | None:
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


def _read_wecom(r: _Reader, raw: Mapping[str, Any]) -> WeComConfig:
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


def _read_dingtalk(r: _Reader, raw: Mapping[str, Any]) -> DingTalkConfig:
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


def _base_url(r: _Reader, t: Mapping[str, Any], key: str, prefix: str, default: str) -> str:
    value = r.str_(t, key, prefix, default)
    if not re.match(r"^https?://", value):
        r.problem(f"{prefix}{key}", f"必须以 http:// 或 https:// 开头，现在是 {value!r}")
    return value if value.endswith("/") else value + "/"


def _read_users(r: _Reader, raw: Mapping[str, Any]) -> tuple[UserConfig, ...]:
    items = raw.get("users", [])
    if not isinstance(items, list):
        r.problem("users", "必须写成表数组：每人一段 [[users]]")
        return ()
    users: list[UserConfig] = []
    labels: list[str] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("users", i, t, "id")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[users]] 段）")
            continue
        r.unknown_keys(t, {"id", "name", "role", "manager", "prefer", *IDENTITY_KEYS.values()}, p)
        uid = r.str_(t, "id", p)
        if not uid:
            r.problem(f"{p}id", "必须填写（用户的唯一标识）")
            continue
        prefer = r.opt_str(t, "prefer", p)
        if prefer is not None and prefer not in IDENTITY_KEYS:
            r.problem(f"{p}prefer", f"只能是 {one_of(IDENTITY_KEYS)}，现在是 {prefer!r}")
        labels.append(label)
        users.append(
            UserConfig(
                id=uid,
                name=r.str_(t, "name", p, uid) or uid,
                role=r.str_(t, "role", p, "rep") or "rep",
                manager=r.opt_str(t, "manager", p),
                wecom_userid=r.opt_str(t, "wecom_userid", p),
                dingtalk_userid=r.opt_str(t, "dingtalk_userid", p),
                prefer=prefer,
                other_ids=tuple((name, value) for name, key in IDENTITY_KEYS.items() if name not in PLATFORMS
                                if (value := r.opt_str(t, key, p))),
            )
        )
    _check_users(r, users, labels)
    return tuple(users)


def _check_users(r: _Reader, users: list[UserConfig], labels: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, u in enumerate(users):
        if u.id in seen:
            r.problem(f"{labels[i]}.id", f"用户 id {u.id!r} 重复（第一次出现在 {labels[seen[u.id]]}）")
        seen.setdefault(u.id, i)
    for platform, attr in IDENTITY_KEYS.items():
        owners: dict[str, str] = {}
        for i, u in enumerate(users):
            value = u.platform_ids.get(platform)
            if value and value in owners and owners[value] != u.id:
                r.problem(f"{labels[i]}.{attr}", f"{value!r} 已经是用户 {owners[value]!r} 的 {attr}")
            if value:
                owners.setdefault(value, u.id)
    for i, u in enumerate(users):
        if u.manager is not None and u.manager not in seen:
            r.problem(f"{labels[i]}.manager", f"上级 {u.manager!r} 不存在：[[users]] 里没有这个 id"
                                              f"{did_you_mean(u.manager, seen)}")
        elif u.manager == u.id:
            r.problem(f"{labels[i]}.manager", "不能是自己的上级")
    _check_manager_cycles(r, users, labels)


def _check_manager_cycles(r: _Reader, users: list[UserConfig], labels: list[str]) -> None:
    managers = {u.id: u.manager for u in users}
    loops: set[frozenset[str]] = set()
    for i, u in enumerate(users):
        path = [u.id]
        current = u.manager
        while current is not None and current in managers:
            if current in path:
                if current != u.id or frozenset(path) in loops:
                    break  # reported once, at the first user of the loop
                loops.add(frozenset(path))
                r.problem(f"{labels[i]}.manager", f"上级关系成环：{' → '.join([*path, u.id])}（一个人不能是自己的间接上级）")
                break
            path.append(current)
            current = managers[current]


_SCAN_WORD_LISTS = ("compound_negations", "after_negations", "neutral_words", "extra_words", "event_verbs")


def _read_scan(r: _Reader, raw: Mapping[str, Any]) -> ScanConfig:
    t = r.table(raw, "scan")
    r.unknown_keys(t, {"negations", "cooldown_hours", "max_chars", *_SCAN_WORD_LISTS, "senses", *_SCAN_FOLLOW_UP},
                   "scan.")
    defaults = _default_scan_table()
    lists: dict[str, Any] = {key: r.str_list(t if key in t else defaults, key, "scan.") for key in _SCAN_WORD_LISTS}
    cfg = ScanConfig(
        negations=r.str_list(t, "negations", "scan."),
        cooldown_hours=r.number(t, "cooldown_hours", "scan.", 24),
        max_chars=r.number(t, "max_chars", "scan.", ScanConfig.max_chars),
        senses=_read_senses(r, t if "senses" in t else defaults, "scan."),
        **lists,
        **_read_scan_follow_up(r, t),
    )
    if cfg.max_chars < 100:
        r.problem("scan.max_chars", "不能小于 100（每条消息最多扫描的字数）")
    return cfg


_SCAN_FOLLOW_UP = ("close_remind_hours", "digest_hour", "report_weekday", "report_hour")


def _read_scan_follow_up(r: _Reader, t: Mapping[str, Any]) -> dict[str, Any]:
    d = ScanConfig()
    hours = t.get("close_remind_hours", list(d.close_remind_hours))
    if not isinstance(hours, list) or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hours):
        r.problem("scan.close_remind_hours", "应当是正整数（小时）的列表，例如 [72, 168]；写 [] 表示不提醒")
        hours = list(d.close_remind_hours)
    values: dict[str, Any] = {"close_remind_hours": tuple(sorted(set(hours)))}
    for key, low, high, what in (("digest_hour", 0, 23, "0 到 23 之间的整点（北京时间）"),
                                 ("report_hour", 0, 23, "0 到 23 之间的整点（北京时间）"),
                                 ("report_weekday", 1, 7, "1 到 7 之间（1 = 星期一）")):
        value = t.get(key, getattr(d, key))
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            r.problem(f"scan.{key}", f"应当是{what}，现在是 {value!r}")
            value = getattr(d, key)
        values[key] = value
    return values


@lru_cache(maxsize=1)
def _default_scan_table() -> Mapping[str, Any]:
    """The packaged `[scan]` table: defaults for the keyword reading word lists a config leaves out."""
    table = tomllib.loads(default_config_text()).get("scan", {})
    return table if isinstance(table, Mapping) else {}


def _read_senses(r: _Reader, t: Mapping[str, Any], p: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`senses = { 关键词 = ["线索词", …] }`: words showing the keyword is used in another sense."""
    value = t.get("senses", {})
    if not isinstance(value, Mapping):
        r.problem(f"{p}senses", "应当是一个表：关键词 = [\"线索词\", …]")
        return ()
    senses = []
    for keyword, cues in value.items():
        if not keyword.strip():
            r.problem(f"{p}senses", "关键词不能为空")
            continue
        if isinstance(cues, str):
            cues = [cues]
        if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
            r.problem(f"{p}senses.{keyword}", "应当是非空字符串的列表，例如 [\"比赛\", \"球队\"]")
            continue
        senses.append((keyword, tuple(cues)))
    return tuple(senses)


_RULE_KEYS = {"name", "label", "kind", "severity", "keywords", "exclude", "notify", "advice", "due_hours", "senses",
              "notify_mode"}
NOTIFY_MODES = ("each", "daily")


def _read_rules(r: _Reader, raw: Mapping[str, Any]) -> tuple[RuleConfig, ...]:
    items = raw.get("rules", [])
    if not isinstance(items, list):
        r.problem("rules", "必须写成表数组：每条规则一段 [[rules]]")
        return ()
    rules: list[RuleConfig] = []
    names: dict[str, str] = {}
    for i, t in enumerate(items, start=1):
        label = entry_label("rules", i, t, "name")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[rules]] 段）")
            continue
        rule = _read_rule(r, t, p)
        if rule is None:
            continue
        if rule.name in names:
            r.problem(f"{p}name", f"规则名 {rule.name!r} 重复（第一次出现在 {names[rule.name]}）")
        names.setdefault(rule.name, label)
        rules.append(rule)
    return tuple(rules)


def _read_rule(r: _Reader, t: Mapping[str, Any], p: str) -> RuleConfig | None:
    r.unknown_keys(t, _RULE_KEYS, p)
    name = r.str_(t, "name", p)
    if not name:
        r.problem(f"{p}name", "必须填写（规则的唯一标识，英文）")
        return None
    kind = r.str_(t, "kind", p)
    if kind not in RULE_KINDS:
        r.problem(f"{p}kind", f"只能是 {one_of(RULE_KINDS)}，现在是 {kind!r}")
    severity = r.str_(t, "severity", p, "medium")
    if severity not in SEVERITIES:
        r.problem(f"{p}severity", f"只能是 {one_of(SEVERITIES)}，现在是 {severity!r}")
    keywords = r.str_list(t, "keywords", p)
    if not keywords:
        r.problem(f"{p}keywords", "至少要有一个关键词")
    notify = r.str_list(t, "notify", p)
    for target in notify:
        if target not in NOTIFY_TARGETS and not target.startswith(("user:", "role:")):
            r.problem(f"{p}notify", f"不认识的接收人 {target!r}；可以写 owner、manager、director、admin、"
                                    "user:<id> 或 role:<角色>")
    return RuleConfig(
        name=name,
        label=r.str_(t, "label", p, name) or name,
        kind=kind,
        keywords=keywords,
        severity=severity,
        exclude=r.str_list(t, "exclude", p),
        notify=notify,
        advice=r.str_(t, "advice", p),
        due_hours=r.number(t, "due_hours", p, 24),
        senses=_read_senses(r, t, p),
        notify_mode=_read_notify_mode(r, t, p),
    )


def _read_notify_mode(r: _Reader, t: Mapping[str, Any], p: str) -> str:
    mode = r.str_(t, "notify_mode", p, "each")
    if mode not in NOTIFY_MODES:
        r.problem(f"{p}notify_mode", f"应当是 \"each\"（每条消息发卡片）或 \"daily\"（每天汇总一张），现在是 {mode!r}")
        return "each"
    return mode


def _read_approvals(r: _Reader, raw: Mapping[str, Any], users: tuple[UserConfig, ...]) -> tuple[ApprovalConfig, ...]:
    items = raw.get("approvals", [])
    if not isinstance(items, list):
        r.problem("approvals", "必须写成表数组：每种单据一段 [[approvals]]")
        return ()
    chains: list[ApprovalConfig] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("approvals", i, t, "kind")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[approvals]] 段）")
            continue
        r.unknown_keys(t, {"kind", "sla_hours", "steps"}, p)
        kind = r.str_(t, "kind", p)
        if kind not in APPROVAL_KINDS:
            r.problem(f"{p}kind", f"只能是 {one_of(APPROVAL_KINDS)}，现在是 {kind!r}")
        if any(c.kind == kind for c in chains):
            r.problem(f"{p}kind", f"{kind!r} 的审批流前面已经定义过了（每种单据只能有一段）")
        steps = _read_steps(r, t.get("steps", []), f"{p}steps", users)
        sla_hours = r.number(t, "sla_hours", p, 24)
        if sla_hours < 1:
            r.problem(f"{p}sla_hours", f"不能小于 1，现在是 {sla_hours}")
        _check_chain(r, f"{p}steps", steps, users)
        chains.append(ApprovalConfig(kind=kind, steps=steps, sla_hours=sla_hours))
    return tuple(chains)


def _check_chain(r: _Reader, key: str, steps: tuple[ApprovalStepConfig, ...], users: tuple[UserConfig, ...]) -> None:
    """A chain climbs the org chart (manager levels increase), names each approver once, and every
    step's amount range and SLA make sense."""
    depth = _deepest_manager_chain(users)
    # A broken [[users]] entry is reported there; the chains' depth checks would only repeat it.
    org_broken = any(p.key.startswith("users") for p in r.problems)
    highest, seen = 0, dict[str, int]()
    for j, step in enumerate(steps, start=1):
        p = f"{key}[{j}]."
        if step.sla_hours is not None and step.sla_hours < 1:
            r.problem(f"{p}sla_hours", f"不能小于 1，现在是 {step.sla_hours}")
        if step.min_amount is not None and step.max_amount is not None and step.min_amount > step.max_amount:
            r.problem(f"{p}min_amount", f"比 max_amount 还大（{step.min_amount:g} > {step.max_amount:g}）")
        if step.approver in seen:
            r.problem(f"{p}approver", f"{step.approver!r} 已经是 steps[{seen[step.approver]}] 的审批人，"
                                      "同一审批流里每人只审一次")
        seen.setdefault(step.approver, j)
        level = _manager_level(step.approver)
        if level is None:
            continue
        if users and level > depth and not org_broken:
            r.problem(f"{p}approver", f"[[users]] 里没有人有 {level} 级上级，{step.approver!r} 永远找不到审批人")
        if level <= highest:
            r.problem(f"{p}approver", f"{step.approver!r} 排在 manager:{highest} 之后；审批流里上级的级别必须"
                                      "逐步升高")
        highest = max(highest, level)


def _manager_level(spec: str) -> int | None:
    if spec == "manager":
        return 1
    match = re.fullmatch(r"manager:([1-9])", spec)
    return int(match.group(1)) if match else None


def _deepest_manager_chain(users: tuple[UserConfig, ...]) -> int:
    """The most managers anyone has above them (loops are reported elsewhere; they stop the walk)."""
    managers = {u.id: u.manager for u in users}
    deepest = 0
    for u in users:
        seen, current = {u.id}, u.manager
        while current is not None and current in managers and current not in seen:
            seen.add(current)
            current = managers[current]
        deepest = max(deepest, len(seen) - 1)
    return deepest


def _read_steps(r: _Reader, raw: Any, key: str, users: tuple[UserConfig, ...]) -> tuple[ApprovalStepConfig, ...]:
    if not isinstance(raw, list) or not raw:
        r.problem(key, '必须是非空的步骤数组，例如 steps = [{ approver = "manager" }]')
        return ()
    steps = []
    for j, s in enumerate(raw, start=1):
        p = f"{key}[{j}]."
        if not isinstance(s, Mapping):
            r.problem(f"{key}[{j}]", '必须是内联表，例如 { approver = "manager" }')
            continue
        r.unknown_keys(s, {"approver", "min_amount", "max_amount", "sla_hours"}, p)
        approver = r.str_(s, "approver", p)
        problem = approver_problem(approver, users)
        if problem:
            r.problem(f"{p}approver", problem)
        steps.append(
            ApprovalStepConfig(
                approver=approver,
                min_amount=r.number(s, "min_amount", p, None, float),
                max_amount=r.number(s, "max_amount", p, None, float),
                sla_hours=r.number(s, "sla_hours", p, None),
            )
        )
    return tuple(steps)


def approver_problem(spec: str, users: tuple[UserConfig, ...]) -> str | None:
    """Why an approver spec can never resolve, or None if it may."""
    if spec == "manager" or re.fullmatch(r"manager:[1-9]", spec):
        return None
    if spec.startswith("role:") and spec[5:]:
        if users and not any(u.role == spec[5:] for u in users):
            return f"没有哪个用户的 role 是 {spec[5:]!r}"
        return None
    if spec.startswith("user:") and spec[5:]:
        if users and not any(u.id == spec[5:] for u in users):
            return f"用户 {spec[5:]!r} 不存在：[[users]] 里没有这个 id{did_you_mean(spec[5:], [u.id for u in users])}"
        return None
    return f"不认识的审批人 {spec!r}；可以写 manager、manager:N、role:<角色> 或 user:<id>"


def _read_sla(r: _Reader, raw: Mapping[str, Any]) -> SlaConfig:
    t = r.table(raw, "sla")
    p = "sla."
    r.unknown_keys(t, {"todo_escalate_hours", "unclaimed_hours", "silent_remind_days", "silent_release_days"}, p)
    d = SlaConfig()
    cfg = SlaConfig(
        todo_escalate_hours=r.number(t, "todo_escalate_hours", p, d.todo_escalate_hours),
        unclaimed_hours=r.number(t, "unclaimed_hours", p, d.unclaimed_hours),
        silent_remind_days=r.number(t, "silent_remind_days", p, d.silent_remind_days),
        silent_release_days=r.number(t, "silent_release_days", p, d.silent_release_days),
    )
    for key in ("todo_escalate_hours", "unclaimed_hours", "silent_remind_days"):
        if getattr(cfg, key) < 1:
            r.problem(f"sla.{key}", f"不能小于 1，现在是 {getattr(cfg, key)}")
    if cfg.silent_release_days <= cfg.silent_remind_days:
        r.problem("sla.silent_release_days", f"必须大于 silent_remind_days（{cfg.silent_remind_days}），"
                                             f"现在是 {cfg.silent_release_days}")
    return cfg


def _read_report(r: _Reader, raw: Mapping[str, Any]) -> ReportConfig:
    t = r.table(raw, "report")
    p = "report."
    r.unknown_keys(t, {"weekday", "hour", "thresholds"}, p)
    d = ReportConfig()
    weekday, hour = r.number(t, "weekday", p, d.weekday), r.number(t, "hour", p, d.hour)
    if not 1 <= weekday <= 7:
        r.problem("report.weekday", f"必须是 1 到 7（1 是周一，5 是周五），现在是 {weekday}")
    if not 0 <= hour <= 23:
        r.problem("report.hour", f"必须是 0 到 23 点，现在是 {hour}")
    limits = dict(DEFAULT_THRESHOLDS)
    table = r.table(t, "report.thresholds")
    for key, value in table.items():
        k = f"report.thresholds.{key}"
        if key not in DEFAULT_THRESHOLDS:
            r.problem(k, unknown_key_message(key, set(DEFAULT_THRESHOLDS)))
        elif (not isinstance(value, list) or len(value) != 2
              or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)):
            r.problem(k, f"必须是两个非负数 [绿线, 黄线]，例如 [0.85, 0.7]，现在是 {value!r}")
        else:
            limits[key] = (float(value[0]), float(value[1]))
    return ReportConfig(weekday=weekday, hour=hour, thresholds=tuple((k, g, y) for k, (g, y) in limits.items()))


def _read_board(r: _Reader, raw: Mapping[str, Any]) -> BoardConfig:
    t = r.table(raw, "board")
    p = "board."
    r.unknown_keys(t, {"secret", "link_minutes", "session_hours"}, p)
    d = BoardConfig()
    cfg = BoardConfig(secret=r.str_(t, "secret", p, d.secret),
                      link_minutes=r.number(t, "link_minutes", p, d.link_minutes),
                      session_hours=r.number(t, "session_hours", p, d.session_hours))
    if cfg.secret and len(cfg.secret) < 16:
        r.problem("board.secret", f"太短（{len(cfg.secret)} 个字符），至少 16 个字符，建议用随机生成的长字符串")
    for key in ("link_minutes", "session_hours"):
        if getattr(cfg, key) < 1:
            r.problem(f"board.{key}", f"不能小于 1，现在是 {getattr(cfg, key)}")
    return cfg


def _read_delivery(r: _Reader, raw: Mapping[str, Any]) -> DeliveryConfig:
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


def _read_worker(r: _Reader, raw: Mapping[str, Any]) -> WorkerConfig:
    t = r.table(raw, "worker")
    p = "worker."
    r.unknown_keys(t, {"tick_seconds", "delivery_seconds", "lease_seconds"}, p)
    d = WorkerConfig()
    return WorkerConfig(
        tick_seconds=r.number(t, "tick_seconds", p, d.tick_seconds),
        delivery_seconds=r.number(t, "delivery_seconds", p, d.delivery_seconds, float),
        lease_seconds=r.number(t, "lease_seconds", p, d.lease_seconds),
    )


_STAGE_KEYS = {"name", "evidence", "max_days", "on_enter", "customer_stage", "outcome", "reasons"}
CUSTOMER_STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
STAGE_OUTCOMES = ("won", "lost")


def _read_stages(r: _Reader, raw: Mapping[str, Any]) -> tuple[StageConfig, ...]:
    """[[stages]]: the opportunity stages in order; absent, the built-in ones (需求确认 … 赢单 / 输单)."""
    if "stages" not in raw:
        return DEFAULT_STAGES
    items = raw["stages"]
    if not isinstance(items, list) or not items:
        r.problem("stages", "必须写成表数组：每个阶段一段 [[stages]]")
        return DEFAULT_STAGES
    stages: list[StageConfig] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("stages", i, t, "name")
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[stages]] 段）")
            continue
        stage = _read_stage(r, t, f"{label}.")
        if any(s.name == stage.name for s in stages):
            r.problem(f"{label}.name", f"阶段名 {stage.name!r} 重复（每个阶段只能定义一次）")
        stages.append(stage)
    for outcome, zh in (("won", "赢单"), ("lost", "输单")):
        if sum(s.outcome == outcome for s in stages) != 1:
            r.problem("stages", f'必须恰好有一个 outcome = "{outcome}" 的阶段（{zh}）')
    return tuple(stages)


def _read_stage(r: _Reader, t: Mapping[str, Any], p: str) -> StageConfig:
    r.unknown_keys(t, _STAGE_KEYS, p)
    name = r.str_(t, "name", p)
    if not name:
        r.problem(f"{p}name", "必须填写（阶段名称，例如「价格谈判」）")
    outcome = r.str_(t, "outcome", p)
    if outcome and outcome not in STAGE_OUTCOMES:
        r.problem(f"{p}outcome", f"只能是 {one_of(STAGE_OUTCOMES)} 或不写，现在是 {outcome!r}")
    customer_stage = r.str_(t, "customer_stage", p)
    if customer_stage and customer_stage not in CUSTOMER_STAGES:
        r.problem(f"{p}customer_stage", f"只能是 {one_of(CUSTOMER_STAGES)}，现在是 {customer_stage!r}")
    reasons = r.str_list(t, "reasons", p)
    if outcome == "lost" and not reasons:
        r.problem(f"{p}reasons", '输单阶段至少要有一个输单原因，例如 ["价格", "竞品"]')
    return StageConfig(name=name, evidence=r.str_list(t, "evidence", p), max_days=r.number(t, "max_days", p, 0),
                       on_enter=_read_handoffs(r, t.get("on_enter", []), f"{p}on_enter"),
                       customer_stage=customer_stage, outcome=outcome, reasons=reasons)


def _read_handoffs(r: _Reader, raw: Any, key: str) -> tuple[HandoffConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(h, Mapping) for h in raw):
        r.problem(key, '必须是数组，例如 [{ role = "delivery", title = "实施资源预约" }]')
        return ()
    out = []
    for i, h in enumerate(raw, start=1):
        p = f"{key}[{i}]."
        r.unknown_keys(h, {"role", "title"}, p)
        role, title = r.str_(h, "role", p), r.str_(h, "title", p)
        if not role:
            r.problem(f"{p}role", "必须填写（谁来认领这条待办，例如 delivery）")
        if not title:
            r.problem(f"{p}title", "必须填写（待办标题，例如「实施资源预约」）")
        out.append(HandoffConfig(role=role, title=title))
    return tuple(out)


_SECTIONS: dict[str, Callable[[_Reader, Mapping[str, Any]], Any]] = {
    "server": _read_server,
    "database": _read_database,
    "wecom": _read_wecom,
    "dingtalk": _read_dingtalk,
    "scan": _read_scan,
    "rules": _read_rules,
    "sla": _read_sla,
    "report": _read_report,
    "board": _read_board,
    "delivery": _read_delivery,
    "worker": _read_worker,
    "leads": lambda r, raw: read_leads(r, raw),
    "stages": _read_stages,
}
KNOWN_TOP_LEVEL = set(_SECTIONS) | {"users", "approvals"}


# ---------------------------------------------------------------------------------------------------
# [leads]

_LEADS_NUMBERS = ("capacity", "daily_cap", "industry_daily_max", "stale_hours", "win_rate_days",
                  "first_contact_hours", "reclaim_hours", "claim_daily_max", "claim_holding_max", "api_per_minute",
                  "org_sync_hours")


def read_leads(r: _Reader, raw: Mapping[str, Any]) -> LeadsConfig:
    """[leads], [leads.weights], [[leads.sources]], [[leads.reps]]."""
    t = r.table(raw, "leads")
    p = "leads."
    r.unknown_keys(t, {"roles", "match_region", "weights", "sources", "reps", "fairness_threshold", *_LEADS_NUMBERS}, p)
    d = LeadsConfig()
    numbers = {key: r.number(t, key, p, getattr(d, key)) for key in _LEADS_NUMBERS}
    numbers["fairness_threshold"] = r.number(t, "fairness_threshold", p, d.fairness_threshold, float)
    for key in ("capacity", "first_contact_hours", "reclaim_hours", "api_per_minute"):
        if numbers[key] < 1:
            r.problem(f"{p}{key}", f"不能小于 1，现在是 {numbers[key]}")
    if numbers["reclaim_hours"] <= numbers["first_contact_hours"]:
        r.problem(f"{p}reclaim_hours", f"必须大于 first_contact_hours（{numbers['first_contact_hours']}），现在是 {numbers['reclaim_hours']}")
    match_region = t.get("match_region", d.match_region)
    if not isinstance(match_region, bool):
        r.problem(f"{p}match_region", f"只能是 true 或 false，现在是 {match_region!r}")
        match_region = d.match_region
    return LeadsConfig(roles=r.str_list(t, "roles", p) if "roles" in t else d.roles, match_region=match_region,
                       weights=_read_lead_weights(r, t), sources=_read_lead_sources(r, t),
                       reps=_read_lead_reps(r, t), **numbers)


def _read_lead_weights(r: _Reader, t: Mapping[str, Any]) -> LeadWeights:
    w = r.table(t, "leads.weights")
    p = "leads.weights."
    r.unknown_keys(w, {"industry", "win_rate", "load", "stale"}, p)
    d = LeadWeights()
    return LeadWeights(**{k: r.number(w, k, p, getattr(d, k), float) for k in ("industry", "win_rate", "load", "stale")})


def _tables(r: _Reader, t: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = t.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        r.problem(f"leads.{key}", f"必须写成表数组：每项一段 [[leads.{key}]]")
        return []
    name_key = "name" if key == "sources" else "id"
    return [(f"{entry_label(f'leads.{key}', i, item, name_key)}.", item) for i, item in enumerate(items, start=1)]


def _read_lead_sources(r: _Reader, t: Mapping[str, Any]) -> tuple[LeadSourceConfig, ...]:
    sources: list[LeadSourceConfig] = []
    for p, s in _tables(r, t, "sources"):
        r.unknown_keys(s, {"name", "token"}, p)
        name, token = r.str_(s, "name", p), r.str_(s, "token", p)
        if not name:
            r.problem(f"{p}name", "必须填写（来源的名字，例如 website）")
        if len(token) < 16:
            r.problem(f"{p}token", f"至少要 16 个字符（一个随机的密钥），现在只有 {len(token)} 个")
        if name and any(x.name == name for x in sources):
            r.problem(f"{p}name", f"来源 {name!r} 重复了（每个来源只能写一段）")
        sources.append(LeadSourceConfig(name, token))
    return tuple(sources)


def _read_lead_reps(r: _Reader, t: Mapping[str, Any]) -> tuple[LeadRepConfig, ...]:
    reps: list[LeadRepConfig] = []
    for p, s in _tables(r, t, "reps"):
        r.unknown_keys(s, {"id", "industries", "region", "capacity", "on_leave"}, p)
        uid = r.str_(s, "id", p)
        if not uid:
            r.problem(f"{p}id", "必须填写（[[users]] 里的用户 id）")
            continue
        on_leave = s.get("on_leave", False)
        if not isinstance(on_leave, bool):
            r.problem(f"{p}on_leave", f"只能是 true 或 false，现在是 {on_leave!r}")
            on_leave = False
        reps.append(LeadRepConfig(uid, r.str_list(s, "industries", p), r.opt_str(s, "region", p),
                                  r.number(s, "capacity", p, None), on_leave))
    return tuple(reps)


def settings_from_mapping(raw: Mapping[str, Any], source: str) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    r = _Reader(source)
    for key in raw:
        if key not in KNOWN_TOP_LEVEL and key not in PLATFORM_SECTIONS:
            r.problem(key, unknown_section_message(key, KNOWN_TOP_LEVEL | set(PLATFORM_SECTIONS)))
    parts = {name: read(r, raw) for name, read in _SECTIONS.items()}
    platforms = tuple((name, _read_platform(r, raw, name, read)) for name, read in PLATFORM_SECTIONS.items())
    users = _read_users(r, raw)
    approvals = _read_approvals(r, raw, users)
    if r.problems:
        raise ConfigError(r.problems)
    if parts["server"].public_url:  # the report's links point at the board on the public URL
        parts["report"] = replace(parts["report"], board_url=parts["server"].public_url.rstrip("/") + "/board")
    return Settings(source=source, users=users, approvals=approvals, platforms=platforms, **parts)


def _read_platform(r: _Reader, raw: Mapping[str, Any], name: str, read: PlatformConfigReader) -> Any:
    """A registered platform's section, read by its own hook (an absent section reads as empty)."""
    table = raw.get(name, {})
    if not isinstance(table, Mapping):
        r.problem(name, "must be a table")
        table = {}
    return read(table, lambda key, message: r.problem(f"{name}.{key}", message))


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply SALESBOT_<SECTION>__<KEY>=value overrides (values stay strings; readers coerce)."""
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        if not all(path):
            continue
        table = raw
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                break
        else:
            table[path[-1]] = value
    return raw


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a ConfigError naming the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        key = f"line {line.group(1)}" if line else "syntax"
        raise ConfigError([ConfigProblem(source, key, f"TOML 语法错误（{exc}）")]) from None


def default_config_text() -> str:
    """The packaged embedded default: default rules and approval chains, no platforms."""
    return resources.files("bot").joinpath("default_config.toml").read_text(encoding="utf-8")


def find_config_path(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """--config, else $SALESBOT_CONFIG, else ./config.toml if present, else None (embedded default)."""
    if explicit:
        return Path(explicit)
    if environ.get("SALESBOT_CONFIG"):
        return Path(environ["SALESBOT_CONFIG"])
    local = cwd / "config.toml"
    return local if local.is_file() else None


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Find, read, override from the environment and validate the config."""
    env = os.environ if environ is None else environ
    found = find_config_path(str(path) if path else None, env, cwd or Path.cwd())
    if found is None:
        text, source = default_config_text(), DEFAULT_SOURCE
    else:
        source = str(found)
        try:
            text = found.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([ConfigProblem(source, "file", "文件不存在")]) from None
        except UnicodeDecodeError:
            raise ConfigError([ConfigProblem(source, "file", "不是 UTF-8 编码的文本，请用 UTF-8 保存")]) from None
        except OSError as exc:
            raise ConfigError([ConfigProblem(source, "file", f"无法读取（{exc.strerror or exc}）")]) from None
    raw = apply_env_overrides(parse_toml(text, source), env)
    return settings_from_mapping(raw, source)


from bot.config_messages import (  # noqa: E402  (helpers for the messages above; kept apart from the types)
    did_you_mean,
    entry_label,
    is_time_zone,
    one_of,
    type_zh,
    unknown_key_message,
    unknown_section_message,
)
