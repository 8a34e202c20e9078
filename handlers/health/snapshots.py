"""Weekly health snapshots: once a week has ended, the tick saves each metric's samples of that week (per
person, so any scope — rep, team, company — aggregates from them), and the 健康度 trend reads past weeks
from there instead of running every ranged query once per week.

Generic over `metrics.METRICS`: every metric with a function is saved, one snapshot per (week, metric),
so a metric added later is backfilled by the next tick. A snapshot is the week's samples as they stood
when the tick took it, under the settings it was computed with (`basis`); where one is missing (a fresh
install, a metric or a setting changed since) the page computes that week live, never shows a guess.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handlers.context import Context
from handlers.health import metrics as m
from handlers.health.weeks import Week, week_of
from handlers.settings import BusinessSettings
from handlers.timefmt import display_zone
from storage import snapshots as repo

log = logging.getLogger(__name__)
BACKFILL_WEEKS = 12  # ended weeks the tick keeps saved: the trend's 11 and the report's last week
NOBODY = ""  # JSON keys are strings: the samples of rows nobody owns (person None)
Sampled = dict[str, m.Samples | None]


def encode(samples: m.Samples) -> dict[str, Any]:
    return {"kind": samples.kind,
            "values": {NOBODY if p is None else p: v for p, v in samples.values.items()},
            "denominators": {NOBODY if p is None else p: d for p, d in samples.denominators.items()}}


def decode(payload: dict[str, Any]) -> m.Samples:
    out = m.Samples(payload["kind"])
    for person, values in payload["values"].items():
        out.values[person or None] = values  # json.loads made fresh lists of the floats encode() wrote
    for person, den in payload["denominators"].items():
        out.denominators[person or None] = float(den)
    return out


def basis(settings: BusinessSettings) -> str:
    """A fingerprint of what metric functions read besides the records: the SLA, leads and stage settings
    and the zone weeks are cut in. Other settings (thresholds, words) only colour or never reach them."""
    text = repr((settings.sla, settings.leads, settings.stages, str(display_zone())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ended_weeks(now: datetime, count: int = BACKFILL_WEEKS) -> list[Week]:
    """The `count` weeks before the one holding `now`, oldest first (each has ended: figures as of its end)."""
    current = week_of(now, now)
    return [current.previous(back) for back in range(count, 0, -1)]


def _computable() -> list[str]:
    return [metric.key for metric in m.METRICS if metric.compute is not None]


def save_weekly_snapshots(ctx: Context) -> list[str]:
    """The tick's check: save the snapshots of the ended weeks not saved yet (`save_snapshots`). Quiet
    bookkeeping, so it says nothing in the tick's report (one log line per week saved)."""
    for label, (saved, counted) in save_snapshots(ctx).items():
        log.info("health snapshots of %s saved: %d metrics, %d samples", label, saved, counted)
    return []


def save_snapshots(ctx: Context) -> dict[str, tuple[int, int]]:
    """Save every metric's samples of each ended week (the last BACKFILL_WEEKS) not saved yet under the
    current settings; week -> (snapshots saved, samples in them). A second tick or worker saves nothing."""
    weeks = ended_weeks(ctx.now)
    fingerprint = basis(ctx.settings)
    have = repo.saved(ctx.session, [w.label for w in weeks], fingerprint)
    done: dict[str, tuple[int, int]] = {}
    for week in weeks:
        missing = [key for key in _computable() if (week.label, key) not in have]
        if not missing:
            continue
        samples = m.compute_all(m.Query(ctx.session, None, week, ctx.settings), missing)
        saved = sum(repo.save(ctx.session, week.label, key, fingerprint, encode(found), ctx.now)
                    for key, found in samples.items() if found is not None)
        if saved:
            done[week.label] = (saved, sum(len(v) for found in samples.values() if found is not None
                                           for v in found.values.values()))
    return done


def samples_by_week(session: Session, settings: BusinessSettings, scope: Collection[str] | None,
                    weeks: Sequence[Week], keys: Collection[str]) -> list[Sampled]:
    """`keys`' samples for each of `weeks`: from the snapshots where an ended week has one, computed live
    over `scope` for the rest (the current week, or a snapshot not taken yet)."""
    ended = [w.label for w in weeks if w.as_of >= w.end]
    stored = _stored(session, ended, keys, basis(settings)) if ended else {}
    out: list[Sampled] = []
    for week in weeks:
        found: Sampled = {key: stored[(week.label, key)] for key in keys if (week.label, key) in stored}
        live = [key for key in keys if key not in found]
        if live:
            found.update(m.compute_all(m.Query(session, scope, week, settings), live))
        out.append(found)
    return out


# Decoded snapshots kept by this process, by their payload's digest: each web worker parses a week's
# payloads once, not on every page (a rep's page reads the company's samples to pick out one person's).
# Which snapshots exist, and their digests, are still read on every page.
_DECODED: OrderedDict[str, m.Samples] = OrderedDict()
DECODED_MAX = 256


def _stored(session: Session, weeks: list[str], keys: Collection[str],
            fingerprint: str) -> dict[tuple[str, str], m.Samples]:
    wanted = repo.digests(session, weeks, keys, fingerprint)
    missing = [pair for pair, digest in wanted.items() if digest not in _DECODED]
    if missing:
        payloads = repo.load(session, {w for w, _ in missing}, {k for _, k in missing}, fingerprint)
        for pair, payload in payloads.items():
            if pair in wanted:
                _DECODED[repo.digest(payload)] = decode(payload)
    out: dict[tuple[str, str], m.Samples] = {}
    for pair, digest in wanted.items():
        if digest in _DECODED:
            _DECODED.move_to_end(digest)
            out[pair] = _DECODED[digest]
    while len(_DECODED) > DECODED_MAX:
        _DECODED.popitem(last=False)
    return out
