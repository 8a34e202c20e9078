"""The settings the scheduler reads: the worker's intervals and leases, and outgoing delivery.

`bot.config` reads `[worker]` and `[delivery]` into these and composes them into its `Settings`,
which satisfies `WorkerSettings`; jobs receive that and pass it on to handlers as their
`BusinessSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from handlers.settings import BusinessSettings


@dataclass(frozen=True)
class DeliveryConfig:
    max_attempts: int = 0  # 0: no cap on attempts; retry_hours alone bounds retrying
    retry_hours: float = 24.0  # transient failures are retried for this long after the card was queued
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    per_minute: int = 30
    batch_size: int = 50


@dataclass(frozen=True)
class WorkerConfig:
    tick_seconds: int = 60
    delivery_seconds: float = 2.0
    lease_seconds: int = 30


class WorkerSettings(BusinessSettings, Protocol):
    """What scheduler jobs read: the business settings they hand to handlers, plus their own."""

    @property
    def delivery(self) -> DeliveryConfig: ...

    @property
    def worker(self) -> WorkerConfig: ...
