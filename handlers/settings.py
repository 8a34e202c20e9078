"""The settings handlers read: the directory, scanning, keyword rules, approval chains and SLAs.

`bot.config` reads the TOML into these frozen dataclasses and composes them (with the scheduler's and
the edge's own) into its top-level `Settings`, which satisfies `BusinessSettings`. Handlers only ever
see `BusinessSettings`, so they do not depend on how or where the config is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class UserConfig:
    id: str
    name: str
    role: str = "rep"
    manager: str | None = None
    wecom_userid: str | None = None
    dingtalk_userid: str | None = None
    prefer: str | None = None
    other_ids: tuple[tuple[str, str], ...] = ()  # (platform, id) on registered platforms beyond the two

    @property
    def platform_ids(self) -> dict[str, str]:
        """platform -> id, as the directory sync writes them into user_identities."""
        ids = {"wecom": self.wecom_userid, "dingtalk": self.dingtalk_userid, **dict(self.other_ids)}
        return {platform: value for platform, value in ids.items() if value}


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


# [report] thresholds: metric key -> (green, yellow). For a metric where more is better a value at or above
# green is 🟢, at or above yellow 🟡, else 🔴; where less is better, at or below. Defaults from the seeds.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "lead_first_contact_share": (0.90, 0.80),
    "lead_first_contact_median_hours": (4, 24),
    "proposal_cycle_median_days": (5, 10),
    "approval_median_hours": (24, 72),
    "approval_within_5wd_share": (0.85, 0.70),
    "approval_step_median_hours": (8, 24),
    "approval_return_share": (0.20, 0.40),
    "todo_overdue_open": (0, 5),
    "todo_closed_by_due_share": (0.90, 0.75),
    "handoff_unclaimed": (0, 3),
    "risk_open_high": (0, 2),
    "risk_outcome_share": (0.80, 0.50),
    "silent_customers": (0, 10),
    "released_to_pool": (0, 3),
    "penetration_first_contact": (0.90, 0.80),
    "penetration_approval": (0.85, 0.70),
    "penetration_stage_dwell": (0.85, 0.70),
    "penetration_handoff_claim": (0.85, 0.70),
    "pei": (0.10, 0.25),
}


@dataclass(frozen=True)
class ReportConfig:
    """[report]: when the weekly report goes out (local time, weekday 1 = Monday) and the thresholds."""

    weekday: int = 5
    hour: int = 17
    thresholds: tuple[tuple[str, float, float], ...] = tuple((k, g, y) for k, (g, y) in DEFAULT_THRESHOLDS.items())
    board_url: str = ""  # <[server] public_url>/board, filled in by the config reader; links in the report

    def threshold(self, key: str) -> tuple[float, float] | None:
        return next(((g, y) for k, g, y in self.thresholds if k == key), None)


class BusinessSettings(Protocol):
    """What a handler may read from the settings (`Context.settings`)."""

    @property
    def users(self) -> tuple[UserConfig, ...]: ...

    @property
    def scan(self) -> ScanConfig: ...

    @property
    def rules(self) -> tuple[RuleConfig, ...]: ...

    @property
    def approvals(self) -> tuple[ApprovalConfig, ...]: ...

    @property
    def sla(self) -> SlaConfig: ...

    @property
    def report(self) -> ReportConfig: ...

    @property
    def enabled_platforms(self) -> tuple[str, ...]:
        """The chat platforms with credentials set (where cards can go), in preference order."""
        ...

    def user(self, user_id: str) -> UserConfig | None: ...

    def approval(self, kind: str) -> ApprovalConfig | None: ...
