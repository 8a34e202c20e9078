"""Report weeks (ISO weeks in the display zone, Monday 00:00 to Monday 00:00) and working days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from handlers.timefmt import display_zone

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Week:
    """One ISO week in the display zone; `as_of` is when the figures are taken (its end, or now if earlier)."""

    year: int
    number: int
    start: datetime
    end: datetime
    as_of: datetime

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def previous(self, count: int = 1) -> Week:
        return week_of(self.start - timedelta(weeks=count) + timedelta(hours=1), None)


def week_of(at: datetime, now: datetime | None = None) -> Week:
    """The week holding `at`; figures as of `now` when it falls inside the week, else the week's end."""
    local = at.astimezone(display_zone())
    year, number, _ = local.isocalendar()
    return _week(year, number, now)


def parse_week(text: str, now: datetime) -> Week:
    """'2026-W48' -> that week; raises ValueError for anything else."""
    m = WEEK_RE.match(text.strip())
    if not m:
        raise ValueError(text)
    year, number = int(m.group(1)), int(m.group(2))
    date.fromisocalendar(year, number, 1)  # raises ValueError for week 54 and the like
    return _week(year, number, now)


def _week(year: int, number: int, now: datetime | None) -> Week:
    monday = date.fromisocalendar(year, number, 1)
    start = datetime.combine(monday, time(0), display_zone())
    end = start + timedelta(weeks=1)
    as_of = end if now is None or now >= end else max(start, now)
    return Week(year, number, start, end, as_of)


def add_working_days(at: datetime, days: int) -> datetime:
    """The same local time `days` working days (Monday to Friday) later; public holidays are not known."""
    local = at.astimezone(display_zone())
    weekday, step = local.weekday(), 0
    while days > 0:  # count on the weekday number: the report calls this once per approval
        step += 1
        if (weekday + step) % 7 < 5:
            days -= 1
    return local + timedelta(days=step)
