"""Load and validate salesbot's TOML configuration into frozen settings objects.

Where things are:
- here: the lookup order (--config, $SALESBOT_CONFIG, ./config.toml, the embedded default), the
  `SALESBOT_<SECTION>__<KEY>` environment overrides, TOML parsing, `load_settings`, the `Settings`
  composite and `settings_from_mapping`, which runs every section reader listed in `_SECTIONS`;
- `bot.config_reader`: `Reader`, the typed-value helpers every section reader uses;
- `bot.config_sections`: [server], [database], [wecom], [dingtalk], [delivery], [worker] (and the
  server/platform settings types, the registry of extra platforms);
- `bot.config_business`: [[users]], [scan], [[rules]], [[approvals]], [sla];
- `bot.config_leads`: [leads];
- `bot.config_deals`: [[stages]], [report], [board];
- `bot.config_messages`: the wording of problems (Chinese, for the admins who edit the file).

A new section: write `read_<section>(r: Reader, raw) -> <YourConfig>` in a `bot/config_<area>.py`
module of its own (importing `Reader` from `bot.config_reader`, its settings type from the layer that
uses it), add it to `_SECTIONS` and a field to `Settings` below. The settings types live in the layer
that reads them (`handlers.settings`, `scheduler.settings`, ...). Every name that was ever importable
from `bot.config` still is. Every problem names the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.config_business import (
    APPROVAL_KINDS,
    NOTIFY_MODES,
    NOTIFY_TARGETS,
    RULE_KINDS,
    SEVERITIES,
    approver_problem,
    read_approvals,
    read_rules,
    read_scan,
    read_sla,
    read_users,
)
from bot.config_deals import BoardConfig, read_board, read_report, read_stages
from bot.config_leads import read_leads
from bot.config_messages import unknown_section_message
from bot.config_reader import Reader, default_config_text
from bot.config_sections import (
    IDENTITY_KEYS,
    PLATFORM_SECTIONS,
    PLATFORMS,
    DatabaseConfig,
    DingTalkConfig,
    PlatformConfigReader,
    ServerConfig,
    WeComArchiveConfig,
    WeComConfig,
    read_database,
    read_delivery,
    read_dingtalk,
    read_server,
    read_wecom,
    read_worker,
)
from handlers.config_errors import ConfigError, ConfigProblem
from handlers.leads_settings import LeadRepConfig, LeadsConfig, LeadSourceConfig, LeadWeights
from handlers.settings import (
    DEFAULT_STAGES,
    ApprovalConfig,
    ApprovalStepConfig,
    ReportConfig,
    RuleConfig,
    ScanConfig,
    SlaConfig,
    StageConfig,
    UserConfig,
)
from scheduler.settings import DeliveryConfig, WorkerConfig

__all__ = [
    "APPROVAL_KINDS", "IDENTITY_KEYS", "NOTIFY_MODES", "NOTIFY_TARGETS", "PLATFORMS", "PLATFORM_SECTIONS",
    "RULE_KINDS", "SEVERITIES", "ApprovalConfig", "ApprovalStepConfig", "BoardConfig", "ConfigError", "ConfigProblem",
    "DatabaseConfig", "DeliveryConfig", "DingTalkConfig", "LeadRepConfig", "LeadSourceConfig", "LeadWeights",
    "LeadsConfig", "PlatformConfigReader", "RuleConfig", "ScanConfig",
    "ServerConfig", "Settings", "SlaConfig", "UserConfig", "WeComArchiveConfig", "WeComConfig", "WorkerConfig",
    "Reader", "approver_problem", "default_config_text", "load_settings", "read_leads", "settings_from_mapping",
]

DEFAULT_SOURCE = "<embedded default>"
ENV_PREFIX = "SALESBOT_"


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
    platforms: tuple[tuple[str, Any], ...] = ()  # (name, config) of registered platforms beyond the two
    stages: tuple[StageConfig, ...] = DEFAULT_STAGES
    report: ReportConfig = field(default_factory=ReportConfig)
    board: BoardConfig = field(default_factory=BoardConfig)

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


_SECTIONS: dict[str, Callable[[Reader, Mapping[str, Any]], Any]] = {
    "server": read_server,
    "database": read_database,
    "wecom": read_wecom,
    "dingtalk": read_dingtalk,
    "scan": read_scan,
    "rules": read_rules,
    "sla": read_sla,
    "delivery": read_delivery,
    "worker": read_worker,
    "leads": lambda r, raw: read_leads(r, raw),
    "stages": read_stages,
    "report": read_report,
    "board": read_board,
}
KNOWN_TOP_LEVEL = set(_SECTIONS) | {"users", "approvals"}


def settings_from_mapping(raw: Mapping[str, Any], source: str) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    r = Reader(source)
    for key in raw:
        if key not in KNOWN_TOP_LEVEL and key not in PLATFORM_SECTIONS:
            r.problem(key, unknown_section_message(key, KNOWN_TOP_LEVEL | set(PLATFORM_SECTIONS)))
    parts = {name: read(r, raw) for name, read in _SECTIONS.items()}
    platforms = tuple((name, _read_platform(r, raw, name, read)) for name, read in PLATFORM_SECTIONS.items())
    users = read_users(r, raw)
    approvals = read_approvals(r, raw, users)
    if r.problems:
        raise ConfigError(r.problems)
    if parts["server"].public_url:  # the report's links point at the board on the public URL
        parts["report"] = replace(parts["report"], board_url=parts["server"].public_url.rstrip("/") + "/board")
    return Settings(source=source, users=users, approvals=approvals, platforms=platforms, **parts)


def _read_platform(r: Reader, raw: Mapping[str, Any], name: str, read: PlatformConfigReader) -> Any:
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
