"""The delivery job: drain the outbox through each recipient's channel.

Claims are leased, so two workers never send the same card, and a card claimed by a process that
died goes out once the lease runs out. Every retry of a row sends the same bytes (channels derive ids
and footers from the row, see Address.send_id), so a platform with a dedupe window drops a resend whose
first answer was lost. Transient failures back off exponentially with jitter for
[delivery] retry_hours; permanent ones are dead at once, and admins get a card for every dead card.
A rate-limited recipient's rows are deferred together until the windows that can send them open.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Row
from sqlalchemy.orm import Session, sessionmaker

from handlers.model import Address, Card
from scheduler.settings import DeliveryConfig
from storage.db import transaction
from storage.queues import claim_outbox, defer_target, finish_outbox, recent_sends, renew_outbox_claim
from storage.states import OutboxStatus

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


@dataclass(frozen=True)
class DeadCard:
    """An outbox row given up: what it was, to whom, and why."""

    id: int
    channel: str
    target: str
    card: dict
    reason: str


DeadListener = Callable[[Session, DeadCard], None]


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
    created_at: datetime


def deliver_due(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    now: datetime,
    config: DeliveryConfig,
    worker: str,
    lease: timedelta = timedelta(seconds=120),
    rng: Callable[[], float] = random.random,
    clock: Callable[[], datetime] | None = None,
    on_dead: DeadListener | None = None,
) -> DeliveryReport:
    """Send every outbox item due at `now` (one batch); returns what happened to each.

    `clock`, when given, supplies the time for each send within the batch (a long batch must not
    stamp its last cards with the time it started). `on_dead` runs in the transaction that gives a
    card up (the worker queues a card to the admins there)."""
    report = DeliveryReport()
    with transaction(factory) as session:
        claimed = [_snapshot(row) for row in claim_outbox(session, now, worker, lease, config.batch_size)]
    if not claimed:
        return report
    with _connection(factory) as conn:
        budgets: dict[tuple[str, str], _Budget] = {}
        claimed_at = now
        for item in claimed:
            now = clock() if clock else now
            budget = _budget_for(conn, channels, budgets, item, now, config)
            if budget.left <= 0 and not budget.deferred:
                _defer(conn, item, budget, now, worker, lease)  # this row with the rest of its target's
            if budget.deferred:
                report.deferred.append(item.id)
                continue
            # A batch can take longer than the lease; renewing before a send once half the lease has gone
            # guarantees that at least half a lease covers the send itself, so no other worker can pick
            # the card up meanwhile (renewing every send would double a backlog's cost).
            if now >= claimed_at + lease / 2:
                with conn.begin():
                    if not renew_outbox_claim(conn, item.id, worker, now + lease):
                        continue
                claimed_at = now
            if _deliver_one(factory, conn, channels, item, now, config, worker, rng, report, on_dead):
                budget.spend(now)
                if budget.left <= 0:
                    # The window is full: the target's next rows wait for the next one now, rather than
                    # coming due (at the staggered times of an earlier defer) and being claimed in vain.
                    _defer(conn, item, budget, now, worker, lease)
    return report


def _connection(factory: sessionmaker[Session]) -> AbstractContextManager[Connection]:
    """One connection for a batch's short transactions (one per card recorded): a session and a pool
    checkout per card cost more than the UPDATE that records it."""
    with factory() as session:
        bind = session.get_bind()
    return bind.connect() if isinstance(bind, Engine) else nullcontext(bind)


WINDOW = timedelta(minutes=1, seconds=1)  # a platform's per-minute limit, with a second to spare


@dataclass
class _Budget:
    """How many more cards one target may receive right now, and when its window opens again."""

    left: int
    limit: int
    oldest: datetime | None  # the first send within the current window, if any
    deferred: bool = False

    def spend(self, now: datetime) -> None:
        self.left -= 1
        self.oldest = self.oldest or now

    def opens_at(self, now: datetime) -> datetime:
        return (self.oldest or now) + WINDOW


def _budget_for(conn: Connection, channels: Mapping[str, Channel], budgets: dict[tuple[str, str], _Budget],
                item: _Claimed, now: datetime, config: DeliveryConfig) -> _Budget:
    """The target's rate budget, counted once per batch rather than once per card."""
    key = (item.channel, item.target)
    if key not in budgets:
        channel = channels.get(item.channel)
        limit = min(channel.per_minute, config.per_minute) if channel is not None else 1
        with conn.begin():
            count, oldest = recent_sends(conn, item.channel, item.target, now - timedelta(minutes=1))
        budgets[key] = _Budget(limit - count, limit, oldest)
    return budgets[key]


def _defer(conn: Connection, item: _Claimed, budget: _Budget, now: datetime, worker: str, lease: timedelta) -> None:
    """Rate-limited: the target's rows wait for the windows that can send them, a window's worth each,
    so a backlog is not re-checked card by card on every pump (storage.queues.defer_target). Rows this
    worker claimed for the target are released with them."""
    with conn.begin():
        defer_target(conn, item.channel, item.target, budget.opens_at(now), worker, budget.limit, WINDOW, now + lease)
    budget.deferred = True


def _snapshot(row: Row[Any]) -> _Claimed:
    return _Claimed(row.id, row.channel, row.target, row.reply_webhook, row.reply_webhook_expires,
                    row.card, row.attempts, row.created_at)


def _deliver_one(factory: sessionmaker[Session], conn: Connection, channels: Mapping[str, Channel],
                 item: _Claimed, now: datetime, config: DeliveryConfig, worker: str, rng: Callable[[], float],
                 report: DeliveryReport, on_dead: DeadListener | None) -> bool:
    """Send one claimed card and record what happened; True if it reached the platform."""
    channel = channels.get(item.channel)
    if channel is None:
        _give_up(factory, item, worker, f"no {item.channel} channel is configured", report, on_dead=on_dead)
        return False
    address = Address(item.channel, item.target, item.webhook, item.webhook_expires,
                      send_id=item.id, queued_at=item.created_at)
    try:
        ref = channel.send(Card.from_dict(item.card), address, now)
    except DeliveryError as exc:
        _failed(factory, conn, item, worker, now, config, rng, exc, report, on_dead)
        return False
    except Exception as exc:  # a bug or an SDK surprise: keep the card, retry, log loudly
        log.exception("outbox %s: unexpected error from the %s channel", item.id, item.channel)
        _failed(factory, conn, item, worker, now, config, rng, DeliveryError(repr(exc)), report, on_dead)
        return False
    with conn.begin():  # recorded before the next card goes: a crash resends at most this one
        finish_outbox(conn, item.id, worker,
                      dict(status=OutboxStatus.SENT, sent_at=now, platform_ref=ref, attempts=item.attempts + 1))
    report.sent.append(item.id)
    return True


def backoff(attempts: int, config: DeliveryConfig, rng: Callable[[], float]) -> float:
    """Seconds before retry number `attempts`: exponential, capped, with ±50 % jitter."""
    base = min(config.backoff_max_seconds, config.backoff_base_seconds * 2 ** max(0, attempts - 1))
    return base * (0.5 + rng())


def _failed(factory: sessionmaker[Session], conn: Connection, item: _Claimed, worker: str, now: datetime,
            config: DeliveryConfig, rng: Callable[[], float], exc: DeliveryError,
            report: DeliveryReport, on_dead: DeadListener | None) -> None:
    attempts = item.attempts + 1
    delay = max(backoff(attempts, config, rng), exc.retry_after or 0.0)
    window_ends = item.created_at + timedelta(hours=config.retry_hours)
    out_of_attempts = bool(config.max_attempts) and attempts >= config.max_attempts
    if not exc.retryable or out_of_attempts or now >= window_ends:
        why = exc.reason if not exc.retryable else f"{exc.reason} (after {attempts} attempts)"
        _give_up(factory, item, worker, why, report, attempts, on_dead)
        return
    # The last retry falls inside the window rather than being skipped for landing just past it.
    delay = min(delay, max(1.0, (window_ends - now).total_seconds()))
    log.warning("outbox %s to %s:%s failed (%s); retry %d in %.0f s",
                item.id, item.channel, item.target, exc.reason, attempts, delay)
    with conn.begin():
        finish_outbox(conn, item.id, worker, dict(attempts=attempts, last_error=exc.reason,
                                                  next_attempt_at=now + timedelta(seconds=delay)))
    report.retried.append(item.id)


def _give_up(factory: sessionmaker[Session], item: _Claimed, worker: str, reason: str,
             report: DeliveryReport, attempts: int | None = None, on_dead: DeadListener | None = None) -> None:
    log.error("outbox %s to %s:%s given up: %s", item.id, item.channel, item.target, reason)
    with transaction(factory) as session:
        if finish_outbox(session, item.id, worker,
                         dict(status=OutboxStatus.DEAD, last_error=reason, attempts=attempts or item.attempts)):
            if on_dead is not None:
                on_dead(session, DeadCard(item.id, item.channel, item.target, item.card, reason))
    report.dead.append(item.id)
