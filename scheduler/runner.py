"""APScheduler wiring: the pump (inbound + delivery), the tick (scheduled checks) and config reload.

Every process may pump: claims keep work from being done twice. Only the holder of the "scheduler"
lease in the database runs ticks, so exactly one scheduler is active however many workers start.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from handlers.context import Context
from handlers.dead_letters import tell_admins
from scheduler.delivery import Channel, DeadCard, deliver_due
from scheduler.inbound import process_inbound
from scheduler.jobs import run_tick
from scheduler.settings import WorkerSettings
from storage import leases
from storage.common import utcnow
from storage.db import transaction

log = logging.getLogger(__name__)
SCHEDULER_LEASE = "scheduler"


@dataclass
class Worker:
    """The background work of one process; every method is safe to call from several processes."""

    factory: sessionmaker[Session]
    settings: Callable[[], WorkerSettings]
    channels: Mapping[str, Channel]
    worker_id: str
    clock: Callable[[], datetime] = utcnow
    before_pump: Callable[[], None] = lambda: None  # e.g. reload the config if it changed
    _pump_lock: threading.Lock = field(default_factory=threading.Lock)
    _wanted: bool = False

    def request_pump(self) -> bool:
        """Ask for another pass; True when no pump is running, so the caller should start one."""
        self._wanted = True
        return not self._pump_lock.locked()

    def pump(self) -> None:
        """Handle stored inbound items, then send what is due, until nothing is left right now.

        A wake that arrives while a pump runs is remembered (request_pump) and served by one more pass
        of the running pump, so concurrent webhooks never start a second, refused, job instance."""
        while True:
            if not self._pump_lock.acquire(blocking=False):
                return
            try:
                self._wanted = False
                self._pump_once()
            finally:
                self._pump_lock.release()
            if not self._wanted:
                return

    def _pump_once(self) -> None:
        self.before_pump()
        settings = self.settings()
        for _ in range(100):  # bounded: yield to the scheduler now and then
            handled = process_inbound(self.factory, settings, self.clock(), self.worker_id)
            report = deliver_due(self.factory, self.channels, self.clock(), settings.delivery, self.worker_id,
                                 lease=timedelta(seconds=settings.worker.lease_seconds), clock=self.clock,
                                 on_dead=lambda session, dead: self._tell_admins(session, settings, dead))
            if not handled and not report.sent and not report.retried:
                break

    def _tell_admins(self, session: Session, settings: WorkerSettings, dead: DeadCard) -> None:
        tell_admins(Context(session, settings, self.clock()), dead.id, dead.channel, dead.target, dead.card, dead.reason)

    def holds_scheduler_lease(self) -> bool:
        ttl = timedelta(seconds=max(self.settings().worker.tick_seconds * 3, 30))
        with transaction(self.factory) as session:
            return leases.acquire(session, SCHEDULER_LEASE, self.worker_id, self.clock(), ttl)

    def tick(self) -> list[str]:
        """Run the scheduled checks if this process holds the scheduler lease."""
        if not self.holds_scheduler_lease():
            return []
        lines = run_tick(self.factory, self.settings(), self.clock())
        for line in lines:
            log.info("tick: %s", line)
        self.pump()
        return lines


def start_background(worker: Worker, settings: WorkerSettings) -> BackgroundScheduler:
    """Start the periodic jobs in a background thread; returns the scheduler (call .shutdown())."""
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    sched.add_job(worker.pump, "interval", seconds=settings.worker.delivery_seconds, id="pump",
                  next_run_time=utcnow())
    sched.add_job(worker.tick, "interval", seconds=settings.worker.tick_seconds, id="tick",
                  next_run_time=utcnow() + timedelta(seconds=1))
    sched.start()
    _workers[sched] = worker
    return sched


_workers: weakref.WeakKeyDictionary[BackgroundScheduler, Worker] = weakref.WeakKeyDictionary()


def wake(sched: BackgroundScheduler) -> None:
    """Run the pump now (called after a webhook stored something); a wake during a pump is coalesced
    into one more pass of that pump instead of a second job instance (which APScheduler refuses, noisily)."""
    worker = _workers.get(sched)
    if worker is not None and not worker.request_pump():
        return
    job = sched.get_job("pump")
    if job is not None:
        job.modify(next_run_time=utcnow())
