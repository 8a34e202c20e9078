"""Weekly health snapshots: each metric's per-person samples of an ended week, one row per
(week, metric, settings basis). Saved once by whichever tick gets there first (the primary key decides)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import HealthSnapshot


def saved(session: Session, weeks: Collection[str], basis: str) -> set[tuple[str, str]]:
    """The (week, metric) pairs already saved under `basis` among `weeks`."""
    rows = session.execute(select(HealthSnapshot.week, HealthSnapshot.metric)
                           .where(HealthSnapshot.week.in_(list(weeks)), HealthSnapshot.basis == basis))
    return {(week, metric) for week, metric in rows}


def digests(session: Session, weeks: Collection[str], metrics: Collection[str], basis: str) -> dict[tuple[str, str], str]:
    """(week, metric) -> its payload's digest, for those of `weeks` x `metrics` saved under `basis`."""
    rows = session.execute(select(HealthSnapshot.week, HealthSnapshot.metric, HealthSnapshot.digest)
                           .where(HealthSnapshot.week.in_(list(weeks)), HealthSnapshot.metric.in_(list(metrics)),
                                  HealthSnapshot.basis == basis))
    return {(week, metric): digest for week, metric, digest in rows}


def load(session: Session, weeks: Collection[str], metrics: Collection[str],
         basis: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(week, metric) -> the saved payload, for those of `weeks` x `metrics` saved under `basis`."""
    rows = session.execute(select(HealthSnapshot.week, HealthSnapshot.metric, HealthSnapshot.payload)
                           .where(HealthSnapshot.week.in_(list(weeks)), HealthSnapshot.metric.in_(list(metrics)),
                                  HealthSnapshot.basis == basis))
    return {(week, metric): payload for week, metric, payload in rows}


def save(session: Session, week: str, metric: str, basis: str, payload: dict[str, Any], at: datetime) -> bool:
    """Save one snapshot unless it exists (another tick or worker saved it first); True if this one did."""
    values = {"week": week, "metric": metric, "basis": basis, "payload": payload, "digest": digest(payload),
              "taken_at": at}
    return insert_ignore(session, HealthSnapshot, values, ["week", "metric", "basis"])


def digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def clear(session: Session) -> None:
    """Drop every snapshot (the benchmark measures the backfill from none)."""
    session.execute(delete(HealthSnapshot))
