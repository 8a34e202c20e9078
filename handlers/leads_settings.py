"""Settings of lead intake and assignment (`[leads]`), read by handlers; the edge composes them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class LeadRepConfig:
    """What assignment knows about one rep beyond the directory: industries, region, capacity, leave."""

    id: str
    industries: tuple[str, ...] = ()
    region: str | None = None
    capacity: int | None = None  # None: [leads] capacity
    on_leave: bool = False


@dataclass(frozen=True)
class LeadSourceConfig:
    """An intake source allowed to POST /api/leads with its own bearer token."""

    name: str
    token: str


@dataclass(frozen=True)
class LeadWeights:
    industry: float = 0.4
    win_rate: float = 0.3
    load: float = 0.3
    stale: float = 0.3  # a penalty per stale (untouched) lead, relative to capacity


@dataclass(frozen=True)
class LeadsConfig:
    roles: tuple[str, ...] = ("rep",)
    match_region: bool = True
    capacity: int = 30
    daily_cap: int = 10
    industry_daily_max: int = 2
    stale_hours: int = 72
    win_rate_days: int = 30
    first_contact_hours: int = 24
    reclaim_hours: int = 48
    claim_daily_max: int = 5
    claim_holding_max: int = 50
    api_per_minute: int = 60
    fairness_threshold: float = 0.15
    org_sync_hours: int = 0  # off unless configured
    weights: LeadWeights = LeadWeights()
    sources: tuple[LeadSourceConfig, ...] = ()
    reps: tuple[LeadRepConfig, ...] = ()

    def rep(self, user_id: str) -> LeadRepConfig:
        return self._reps_by_id.get(user_id) or LeadRepConfig(user_id)

    @cached_property
    def _reps_by_id(self) -> dict[str, LeadRepConfig]:
        return {r.id: r for r in self.reps}
