"""The settings handlers read: the directory, scanning, keyword rules, approval chains and SLAs.

`bot.config` reads the TOML into these frozen dataclasses and composes them (with the scheduler's and
the edge's own) into its top-level `Settings`, which satisfies `BusinessSettings`. Handlers only ever
see `BusinessSettings`, so they do not depend on how or where the config is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from handlers.leads_settings import LeadsConfig


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
    max_chars: int = 20000  # a message is stored whole but scanned up to this many characters
    # Keyword reading word lists (issue 15); a config without them takes the packaged defaults.
    compound_negations: tuple[str, ...] = ()
    after_negations: tuple[str, ...] = ()
    neutral_words: tuple[str, ...] = ()
    extra_words: tuple[str, ...] = ()
    senses: tuple[tuple[str, tuple[str, ...]], ...] = ()
    event_verbs: tuple[str, ...] = ()
    # Risk follow-up (issue 15): remind the owner to close (结案) an open risk after each of these
    # hours; the daily digest hour and the weekly rules report (weekday 1 = Monday), China time.
    close_remind_hours: tuple[int, ...] = (72, 168)
    digest_hour: int = 18
    report_weekday: int = 1
    report_hour: int = 9


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
    senses: tuple[tuple[str, tuple[str, ...]], ...] = ()
    notify_mode: str = "each"  # each: a card per message; daily: one digest card per owner a day (risks)

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
class HandoffConfig:
    """A to-do a stage creates on entry, claimable by anyone with `role` (delivery, solution...)."""

    role: str
    title: str


@dataclass(frozen=True)
class StageConfig:
    """One opportunity stage: the evidence kinds needed to enter it, the longest normal dwell
    (`max_days`, 0 = no limit), the hand-offs on entry; `outcome` marks 赢单 (won) / 输单 (lost)."""

    name: str
    evidence: tuple[str, ...] = ()
    max_days: int = 0
    on_enter: tuple[HandoffConfig, ...] = ()
    customer_stage: str = ""
    outcome: str = ""  # "" won lost
    reasons: tuple[str, ...] = ()  # the lost stage: the reasons a rep may give


DEFAULT_STAGES: tuple[StageConfig, ...] = (
    StageConfig("需求确认", ("会议纪要",), 14, customer_stage="qualified"),
    StageConfig("方案提交", ("技术方案",), 14, customer_stage="proposal"),
    StageConfig("方案确认", ("技术方案",), 14, (HandoffConfig("delivery", "实施资源预约"),), "proposal"),
    StageConfig("价格谈判", ("报价单",), 14, customer_stage="negotiation"),
    StageConfig("合同审批", ("合同草稿",), 14, customer_stage="negotiation"),
    StageConfig("赢单", ("合同",), customer_stage="won", outcome="won"),
    StageConfig("输单", (), customer_stage="lost", outcome="lost",
                reasons=("价格", "竞品", "需求变化", "预算取消", "失去联系", "其他")),
)
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
    proposal_stages: tuple[str, ...] = ()  # 方案定制周期 from / to stage; () = the first two [[stages]]

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
    def leads(self) -> LeadsConfig: ...

    @property
    def stages(self) -> tuple[StageConfig, ...]: ...

    @property
    def report(self) -> ReportConfig: ...

    @property
    def enabled_platforms(self) -> tuple[str, ...]:
        """The chat platforms with credentials set (where cards can go), in preference order."""
        ...

    def user(self, user_id: str) -> UserConfig | None: ...

    def approval(self, kind: str) -> ApprovalConfig | None: ...
