"""Load and validate salesbot's TOML configuration into frozen settings objects.

Pure Python (tomllib + dataclasses): handlers and scheduler jobs may read these types without pulling
in the web framework. Every problem names the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from handlers.leads_settings import LeadRepConfig, LeadsConfig, LeadSourceConfig, LeadWeights

DEFAULT_SOURCE = "<embedded default>"
ENV_PREFIX = "SALESBOT_"
RULE_KINDS = ("risk", "todo")
SEVERITIES = ("low", "medium", "high")
APPROVAL_KINDS = ("quote", "contract")
PLATFORMS = ("wecom", "dingtalk")
NOTIFY_TARGETS = ("owner", "manager", "director", "admin")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class ServerConfig:
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024


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
class UserConfig:
    id: str
    name: str
    role: str = "rep"
    manager: str | None = None
    wecom_userid: str | None = None
    dingtalk_userid: str | None = None
    prefer: str | None = None


@dataclass(frozen=True)
class ScanConfig:
    negations: tuple[str, ...] = ()
    cooldown_hours: int = 24


@dataclass(frozen=True)
class RuleConfig:
    name: str
    label: str
    kind: str
    keywords: tuple[str, ...]
    severity: str = "medium"
    exclude: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    advice: str = ""
    due_hours: int = 24

    @property
    def recipients(self) -> tuple[str, ...]:
        """Who gets the card: the configured list, else owner (+ manager for risks)."""
        if self.notify:
            return self.notify
        return ("owner", "manager") if self.kind == "risk" else ("owner",)


@dataclass(frozen=True)
class ApprovalStepConfig:
    approver: str
    min_amount: float | None = None
    max_amount: float | None = None
    sla_hours: int | None = None


@dataclass(frozen=True)
class ApprovalConfig:
    kind: str
    steps: tuple[ApprovalStepConfig, ...]
    sla_hours: int = 24


@dataclass(frozen=True)
class SlaConfig:
    todo_escalate_hours: int = 24
    unclaimed_hours: int = 72
    silent_remind_days: int = 30
    silent_release_days: int = 45


@dataclass(frozen=True)
class DeliveryConfig:
    max_attempts: int = 8
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    per_minute: int = 30
    batch_size: int = 50


@dataclass(frozen=True)
class WorkerConfig:
    tick_seconds: int = 60
    delivery_seconds: float = 2.0
    lease_seconds: int = 30


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
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    leads: LeadsConfig = field(default_factory=LeadsConfig)

    @property
    def is_file(self) -> bool:
        return self.source != DEFAULT_SOURCE

    def user(self, user_id: str) -> UserConfig | None:
        return next((u for u in self.users if u.id == user_id), None)

    def approval(self, kind: str) -> ApprovalConfig | None:
        return next((a for a in self.approvals if a.kind == kind), None)

    def summary(self) -> str:
        platforms = [p for p in PLATFORMS if getattr(self, p).enabled] or ["console only"]
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
        self.problems.append(ConfigProblem(self.source, key, message))

    def table(self, raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = raw.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, Mapping):
            self.problem(key, f"must be a table, got {type(value).__name__}")
            return {}
        return value

    def str_(self, raw: Mapping[str, Any], key: str, prefix: str, default: str = "") -> str:
        value = raw.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(f"{prefix}{key}", f"must be a string, got {type(value).__name__}")
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
                self.problem(f"{prefix}{key}", f"must be a number, got {value!r}")
                return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{prefix}{key}", f"must be a number, got {type(value).__name__}")
            return default
        if kind is int and isinstance(value, float) and not value.is_integer():
            self.problem(f"{prefix}{key}", f"must be a whole number, got {value}")
            return default
        if value < 0:
            self.problem(f"{prefix}{key}", f"must not be negative, got {value}")
            return default
        return kind(value)

    def str_list(self, raw: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{prefix}{key}", "must be a list of non-empty strings")
            return ()
        return tuple(value)

    def unknown_keys(self, raw: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{prefix}{key}", "unknown key (typo?)")


def _read_server(r: _Reader, raw: Mapping[str, Any]) -> ServerConfig:
    t = r.table(raw, "server")
    r.unknown_keys(t, {"public_url", "host", "port", "max_body_bytes"}, "server.")
    d = ServerConfig()
    cfg = ServerConfig(
        public_url=r.str_(t, "public_url", "server.", d.public_url).rstrip("/"),
        host=r.str_(t, "host", "server.", d.host),
        port=r.number(t, "port", "server.", d.port),
        max_body_bytes=r.number(t, "max_body_bytes", "server.", d.max_body_bytes),
    )
    if not re.match(r"^https?://", cfg.public_url):
        r.problem("server.public_url", f"must start with http:// or https://, got {cfg.public_url!r}")
    if cfg.max_body_bytes < 1024:
        r.problem("server.max_body_bytes", "must be at least 1024")
    return cfg


def _read_database(r: _Reader, raw: Mapping[str, Any]) -> DatabaseConfig:
    t = r.table(raw, "database")
    r.unknown_keys(t, {"url"}, "database.")
    url = r.str_(t, "url", "database.", DatabaseConfig.url)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        r.problem("database.url", f"must be a sqlite:// or postgresql:// URL, got {url.split(':')[0]!r}")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return DatabaseConfig(url=url)


def _check_aes_key(r: _Reader, key: str, value: str) -> None:
    if value and len(value) != 43:
        r.problem(key, f"must be exactly 43 characters, got {len(value)}")
    elif value and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
        r.problem(key, "must contain only base64 characters (A-Z a-z 0-9 + /)")


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
        r.problem("wecom.archive", "sdk_path and private_key_path must be given together")
    if not 1 <= cfg.batch_size <= 1000:
        r.problem("wecom.archive.batch_size", "must be between 1 and 1000")
    return cfg


def _read_wecom(r: _Reader, raw: Mapping[str, Any]) -> WeComConfig:
    t = r.table(raw, "wecom")
    p = "wecom."
    r.unknown_keys(
        t,
        {"corp_id", "agent_id", "secret", "token", "encoding_aes_key", "api_base", "timeout_seconds",
         "contact_secret", "archive"},
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
    )
    _check_aes_key(r, "wecom.encoding_aes_key", cfg.encoding_aes_key)
    if cfg.corp_id and not (cfg.token and cfg.encoding_aes_key):
        r.problem("wecom", "corp_id is set: token and encoding_aes_key are needed to receive callbacks")
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
        r.problem(f"{prefix}{key}", f"must start with http:// or https://, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _read_users(r: _Reader, raw: Mapping[str, Any]) -> tuple[UserConfig, ...]:
    items = raw.get("users", [])
    if not isinstance(items, list):
        r.problem("users", "must be an array of tables: [[users]]")
        return ()
    users: list[UserConfig] = []
    for i, t in enumerate(items):
        p = f"users[{i}]."
        if not isinstance(t, Mapping):
            r.problem(f"users[{i}]", "must be a table")
            continue
        r.unknown_keys(t, {"id", "name", "role", "manager", "wecom_userid", "dingtalk_userid", "prefer"}, p)
        uid = r.str_(t, "id", p)
        if not uid:
            r.problem(f"{p}id", "is required")
            continue
        prefer = r.opt_str(t, "prefer", p)
        if prefer is not None and prefer not in PLATFORMS:
            r.problem(f"{p}prefer", f"must be \"wecom\" or \"dingtalk\", got {prefer!r}")
        users.append(
            UserConfig(
                id=uid,
                name=r.str_(t, "name", p, uid) or uid,
                role=r.str_(t, "role", p, "rep") or "rep",
                manager=r.opt_str(t, "manager", p),
                wecom_userid=r.opt_str(t, "wecom_userid", p),
                dingtalk_userid=r.opt_str(t, "dingtalk_userid", p),
                prefer=prefer,
            )
        )
    _check_users(r, users)
    return tuple(users)


def _check_users(r: _Reader, users: list[UserConfig]) -> None:
    seen: dict[str, int] = {}
    for i, u in enumerate(users):
        if u.id in seen:
            r.problem(f"users[{i}].id", f"duplicate user id {u.id!r} (first at users[{seen[u.id]}])")
        seen.setdefault(u.id, i)
    for attr in ("wecom_userid", "dingtalk_userid"):
        owners: dict[str, str] = {}
        for i, u in enumerate(users):
            value = getattr(u, attr)
            if value and value in owners and owners[value] != u.id:
                r.problem(f"users[{i}].{attr}", f"{value!r} is already used by user {owners[value]!r}")
            if value:
                owners.setdefault(value, u.id)
    for i, u in enumerate(users):
        if u.manager is not None and u.manager not in seen:
            r.problem(f"users[{i}].manager", f"user {u.id!r} names manager {u.manager!r}, who does not exist")
        elif u.manager == u.id:
            r.problem(f"users[{i}].manager", f"user {u.id!r} cannot be their own manager")
    _check_manager_cycles(r, users)


def _check_manager_cycles(r: _Reader, users: list[UserConfig]) -> None:
    managers = {u.id: u.manager for u in users}
    for i, u in enumerate(users):
        seen = {u.id}
        current = u.manager
        while current is not None and current in managers:
            if current in seen:
                if current != u.id:
                    break  # reported at the user inside the loop
                r.problem(f"users[{i}].manager", f"the manager chain of {u.id!r} loops back to itself")
                break
            seen.add(current)
            current = managers[current]


def _read_scan(r: _Reader, raw: Mapping[str, Any]) -> ScanConfig:
    t = r.table(raw, "scan")
    r.unknown_keys(t, {"negations", "cooldown_hours"}, "scan.")
    return ScanConfig(
        negations=r.str_list(t, "negations", "scan."),
        cooldown_hours=r.number(t, "cooldown_hours", "scan.", 24),
    )


_RULE_KEYS = {"name", "label", "kind", "severity", "keywords", "exclude", "notify", "advice", "due_hours"}


def _read_rules(r: _Reader, raw: Mapping[str, Any]) -> tuple[RuleConfig, ...]:
    items = raw.get("rules", [])
    if not isinstance(items, list):
        r.problem("rules", "must be an array of tables: [[rules]]")
        return ()
    rules: list[RuleConfig] = []
    names: set[str] = set()
    for i, t in enumerate(items):
        p = f"rules[{i}]."
        if not isinstance(t, Mapping):
            r.problem(f"rules[{i}]", "must be a table")
            continue
        rule = _read_rule(r, t, p)
        if rule is None:
            continue
        if rule.name in names:
            r.problem(f"{p}name", f"duplicate rule name {rule.name!r}")
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _read_rule(r: _Reader, t: Mapping[str, Any], p: str) -> RuleConfig | None:
    r.unknown_keys(t, _RULE_KEYS, p)
    name = r.str_(t, "name", p)
    if not name:
        r.problem(f"{p}name", "is required")
        return None
    kind = r.str_(t, "kind", p)
    if kind not in RULE_KINDS:
        r.problem(f"{p}kind", f"must be one of {', '.join(RULE_KINDS)}, got {kind!r}")
    severity = r.str_(t, "severity", p, "medium")
    if severity not in SEVERITIES:
        r.problem(f"{p}severity", f"must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    keywords = r.str_list(t, "keywords", p)
    if not keywords:
        r.problem(f"{p}keywords", "needs at least one keyword")
    notify = r.str_list(t, "notify", p)
    for target in notify:
        if target not in NOTIFY_TARGETS and not target.startswith(("user:", "role:")):
            r.problem(f"{p}notify", f"unknown recipient {target!r}; use owner, manager, director, admin, "
                                    "user:<id> or role:<role>")
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
    )


def _read_approvals(r: _Reader, raw: Mapping[str, Any], users: tuple[UserConfig, ...]) -> tuple[ApprovalConfig, ...]:
    items = raw.get("approvals", [])
    if not isinstance(items, list):
        r.problem("approvals", "must be an array of tables: [[approvals]]")
        return ()
    chains: list[ApprovalConfig] = []
    for i, t in enumerate(items):
        p = f"approvals[{i}]."
        if not isinstance(t, Mapping):
            r.problem(f"approvals[{i}]", "must be a table")
            continue
        r.unknown_keys(t, {"kind", "sla_hours", "steps"}, p)
        kind = r.str_(t, "kind", p)
        if kind not in APPROVAL_KINDS:
            r.problem(f"{p}kind", f"must be one of {', '.join(APPROVAL_KINDS)}, got {kind!r}")
        if any(c.kind == kind for c in chains):
            r.problem(f"{p}kind", f"a chain for {kind!r} is already defined")
        steps = _read_steps(r, t.get("steps", []), f"{p}steps", users)
        sla_hours = r.number(t, "sla_hours", p, 24)
        if sla_hours < 1:
            r.problem(f"{p}sla_hours", "must be at least 1")
        _check_chain(r, f"{p}steps", steps, users)
        chains.append(ApprovalConfig(kind=kind, steps=steps, sla_hours=sla_hours))
    return tuple(chains)


def _check_chain(r: _Reader, key: str, steps: tuple[ApprovalStepConfig, ...], users: tuple[UserConfig, ...]) -> None:
    """A chain climbs the org chart (manager levels increase), names each approver once, and every
    step's amount range and SLA make sense."""
    depth = _deepest_manager_chain(users)
    highest, seen = 0, dict[str, int]()
    for j, step in enumerate(steps):
        p = f"{key}[{j}]."
        if step.sla_hours is not None and step.sla_hours < 1:
            r.problem(f"{p}sla_hours", "must be at least 1")
        if step.min_amount is not None and step.max_amount is not None and step.min_amount > step.max_amount:
            r.problem(f"{p}min_amount", f"is greater than max_amount ({step.min_amount} > {step.max_amount})")
        if step.approver in seen:
            r.problem(f"{p}approver", f"{step.approver!r} already decides {key}[{seen[step.approver]}]")
        seen.setdefault(step.approver, j)
        level = _manager_level(step.approver)
        if level is None:
            continue
        if users and level > depth:
            r.problem(f"{p}approver", f"nobody has {level} levels of managers, so {step.approver!r} never resolves")
        if level <= highest:
            r.problem(f"{p}approver", f"{step.approver!r} comes after manager:{highest}; manager levels must "
                                      "increase along a chain")
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
        r.problem(key, "must be a non-empty list of steps like { approver = \"manager\" }")
        return ()
    steps = []
    for j, s in enumerate(raw):
        p = f"{key}[{j}]."
        if not isinstance(s, Mapping):
            r.problem(f"{key}[{j}]", "must be an inline table like { approver = \"manager\" }")
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
            return f"no user has role {spec[5:]!r}"
        return None
    if spec.startswith("user:") and spec[5:]:
        if users and not any(u.id == spec[5:] for u in users):
            return f"user {spec[5:]!r} does not exist"
        return None
    return f"unknown approver {spec!r}; use manager, manager:N, role:<role> or user:<id>"


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
            r.problem(f"sla.{key}", "must be at least 1")
    if cfg.silent_release_days <= cfg.silent_remind_days:
        r.problem("sla.silent_release_days", "must be greater than silent_remind_days")
    return cfg


def _read_delivery(r: _Reader, raw: Mapping[str, Any]) -> DeliveryConfig:
    t = r.table(raw, "delivery")
    p = "delivery."
    r.unknown_keys(t, {"max_attempts", "backoff_base_seconds", "backoff_max_seconds", "per_minute", "batch_size"}, p)
    d = DeliveryConfig()
    cfg = DeliveryConfig(
        max_attempts=r.number(t, "max_attempts", p, d.max_attempts),
        backoff_base_seconds=r.number(t, "backoff_base_seconds", p, d.backoff_base_seconds, float),
        backoff_max_seconds=r.number(t, "backoff_max_seconds", p, d.backoff_max_seconds, float),
        per_minute=r.number(t, "per_minute", p, d.per_minute),
        batch_size=r.number(t, "batch_size", p, d.batch_size),
    )
    if cfg.max_attempts < 1:
        r.problem("delivery.max_attempts", "must be at least 1")
    if cfg.per_minute < 1:
        r.problem("delivery.per_minute", "must be at least 1")
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


_SECTIONS: dict[str, Callable[[_Reader, Mapping[str, Any]], Any]] = {
    "server": _read_server,
    "database": _read_database,
    "wecom": _read_wecom,
    "dingtalk": _read_dingtalk,
    "scan": _read_scan,
    "rules": _read_rules,
    "sla": _read_sla,
    "delivery": _read_delivery,
    "worker": _read_worker,
    "leads": lambda r, raw: read_leads(r, raw),
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
            r.problem(f"{p}{key}", "must be at least 1")
    if numbers["reclaim_hours"] <= numbers["first_contact_hours"]:
        r.problem(f"{p}reclaim_hours", "must be greater than first_contact_hours")
    match_region = t.get("match_region", d.match_region)
    if not isinstance(match_region, bool):
        r.problem(f"{p}match_region", "must be true or false")
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
        r.problem(f"leads.{key}", f"must be an array of tables: [[leads.{key}]]")
        return []
    return [(f"leads.{key}[{i}].", item) for i, item in enumerate(items)]


def _read_lead_sources(r: _Reader, t: Mapping[str, Any]) -> tuple[LeadSourceConfig, ...]:
    sources: list[LeadSourceConfig] = []
    for p, s in _tables(r, t, "sources"):
        r.unknown_keys(s, {"name", "token"}, p)
        name, token = r.str_(s, "name", p), r.str_(s, "token", p)
        if not name:
            r.problem(f"{p}name", "is required")
        if len(token) < 16:
            r.problem(f"{p}token", "must be at least 16 characters (a random secret)")
        if name and any(x.name == name for x in sources):
            r.problem(f"{p}name", f"duplicate source {name!r}")
        sources.append(LeadSourceConfig(name, token))
    return tuple(sources)


def _read_lead_reps(r: _Reader, t: Mapping[str, Any]) -> tuple[LeadRepConfig, ...]:
    reps: list[LeadRepConfig] = []
    for p, s in _tables(r, t, "reps"):
        r.unknown_keys(s, {"id", "industries", "region", "capacity", "on_leave"}, p)
        uid = r.str_(s, "id", p)
        if not uid:
            r.problem(f"{p}id", "is required")
            continue
        on_leave = s.get("on_leave", False)
        if not isinstance(on_leave, bool):
            r.problem(f"{p}on_leave", "must be true or false")
            on_leave = False
        reps.append(LeadRepConfig(uid, r.str_list(s, "industries", p), r.opt_str(s, "region", p),
                                  r.number(s, "capacity", p, None), on_leave))
    return tuple(reps)


def settings_from_mapping(raw: Mapping[str, Any], source: str) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    r = _Reader(source)
    for key in raw:
        if key not in KNOWN_TOP_LEVEL:
            r.problem(key, "unknown section (typo?)")
    parts = {name: read(r, raw) for name, read in _SECTIONS.items()}
    users = _read_users(r, raw)
    approvals = _read_approvals(r, raw, users)
    if r.problems:
        raise ConfigError(r.problems)
    return Settings(source=source, users=users, approvals=approvals, **parts)


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
        raise ConfigError([ConfigProblem(source, key, f"TOML syntax error: {exc}")]) from None


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
            raise ConfigError([ConfigProblem(source, "file", "does not exist")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigProblem(source, "file", f"cannot be read: {exc}")]) from None
    raw = apply_env_overrides(parse_toml(text, source), env)
    return settings_from_mapping(raw, source)
