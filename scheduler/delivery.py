"""The delivery job: drain the outbox through each recipient's channel.

Claims are leased, so two workers never send the same card, and a card claimed by a process that
died goes out once the lease runs out. Failures back off exponentially with jitter; after
max_attempts the card is marked dead with its reason (and logged).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from handlers.model import Address, Card
from scheduler.settings import DeliveryConfig
from storage.db import transaction
from storage.queues import claim_outbox, finish_outbox, recent_sends, renew_outbox_claim

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed. `retryable` false means retrying cannot help (bad recipient, bad card)."""

    def __init__(self, reason: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """Sends a neutral Card to one address on one platform."""

    name: str
    per_minute: int  # most cards a minute one target may receive

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        """Send; return a platform reference (kept for later updates) or raise DeliveryError."""
        ...


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"delivery: {len(self.sent)} sent, {len(self.retried)} to retry, "
                f"{len(self.deferred)} deferred by rate limit, {len(self.dead)} given up")


@dataclass(frozen=True)
class _Claimed:
    id: int
    channel: str
    target: str
    webhook: str | None
    webhook_expires: datetime | None
    card: dict
    attempts: int


def deliver_due(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    now: datetime,
    config: DeliveryConfig,
    worker: str,
    lease: timedelta = timedelta(seconds=120),
    rng: Callable[[], float] = random.random,
    clock: Callable[[], datetime] | None = None,
) -> DeliveryReport:
    """Send every outbox item due at `now` (one batch); returns what happened to each.

    `clock`, when given, supplies the time for each send within the batch (a long batch must not
    stamp its last cards with the time it started)."""
    report = DeliveryReport()
    with transaction(factory) as session:
        claimed = [_snapshot(row) for row in claim_outbox(session, now, worker, lease, config.batch_size)]
    for item in claimed:
        now = clock() if clock else now
        # A batch can take longer than the lease; renewing just before each send guarantees that a
        # full lease covers the send itself, so no other worker can pick the card up meanwhile.
        with transaction(factory) as session:
            if not renew_outbox_claim(session, item.id, worker, now + lease):
                continue
        _deliver_one(factory, channels, item, now, config, worker, rng, report)
    return report


def _snapshot(row: object) -> _Claimed:
    return _Claimed(row.id, row.channel, row.target, row.reply_webhook, row.reply_webhook_expires,  # type: ignore[attr-defined]
                    row.card, row.attempts)  # type: ignore[attr-defined]


def _deliver_one(factory: sessionmaker[Session], channels: Mapping[str, Channel], item: _Claimed,
                 now: datetime, config: DeliveryConfig, worker: str, rng: Callable[[], float],
                 report: DeliveryReport) -> None:
    channel = channels.get(item.channel)
    if channel is None:
        _give_up(factory, item, worker, f"no {item.channel} channel is configured", report)
        return
    wait_until = _rate_limited_until(factory, channel, item, now, config)
    if wait_until is not None:
        with transaction(factory) as session:
            finish_outbox(session, item.id, worker, dict(next_attempt_at=wait_until))
        report.deferred.append(item.id)
        return
    address = Address(item.channel, item.target, item.webhook, item.webhook_expires)
    try:
        ref = channel.send(Card.from_dict(item.card), address, now)
    except DeliveryError as exc:
        _failed(factory, item, worker, now, config, rng, exc, report)
        return
    except Exception as exc:  # a bug or an SDK surprise: keep the card, retry, log loudly
        log.exception("outbox %s: unexpected error from the %s channel", item.id, item.channel)
        _failed(factory, item, worker, now, config, rng, DeliveryError(repr(exc)), report)
        return
    with transaction(factory) as session:
        finish_outbox(session, item.id, worker,
                      dict(status="sent", sent_at=now, platform_ref=ref, attempts=item.attempts + 1))
    report.sent.append(item.id)


def _rate_limited_until(factory: sessionmaker[Session], channel: Channel, item: _Claimed, now: datetime,
                        config: DeliveryConfig) -> datetime | None:
    limit = min(channel.per_minute, config.per_minute)
    with transaction(factory) as session:
        count, oldest = recent_sends(session, item.channel, item.target, now - timedelta(minutes=1))
    if count < limit or oldest is None:
        return None
    return oldest + timedelta(minutes=1, seconds=1)


def backoff(attempts: int, config: DeliveryConfig, rng: Callable[[], float]) -> float:
    """Seconds before retry number `attempts`: exponential, capped, with ±50 % jitter."""
    base = min(config.backoff_max_seconds, config.backoff_base_seconds * 2 ** max(0, attempts - 1))
    return base * (0.5 + rng())


def _failed(factory: sessionmaker[Session], item: _Claimed, worker: str, now: datetime,
            config: DeliveryConfig, rng: Callable[[], float], exc: DeliveryError,
            report: DeliveryReport) -> None:
    attempts = item.attempts + 1
    if not exc.retryable or attempts >= config.max_attempts:
        why = exc.reason if not exc.retryable else f"{exc.reason} (after {attempts} attempts)"
        _give_up(factory, item, worker, why, report, attempts)
        return
    delay = max(backoff(attempts, config, rng), exc.retry_after or 0.0)
    log.warning("outbox %s to %s:%s failed (%s); retry %d in %.0f s",
                item.id, item.channel, item.target, exc.reason, attempts, delay)
    with transaction(factory) as session:
        finish_outbox(session, item.id, worker, dict(attempts=attempts, last_error=exc.reason,
                                                     next_attempt_at=now + timedelta(seconds=delay)))
    report.retried.append(item.id)


def _give_up(factory: sessionmaker[Session], item: _Claimed, worker: str, reason: str,
             report: DeliveryReport, attempts: int | None = None) -> None:
    log.error("outbox %s to %s:%s given up: %s", item.id, item.channel, item.target, reason)
    with transaction(factory) as session:
        finish_outbox(session, item.id, worker,
                      dict(status="dead", last_error=reason, attempts=attempts or item.attempts))
    report.dead.append(item.id)
