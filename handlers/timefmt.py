"""Times as users read them: China Standard Time (UTC+8, no daylight saving), whatever the server's zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "北京时间")


def local_time(at: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """Format an aware UTC time in China time; '—' for no time."""
    return at.astimezone(CHINA_TIME).strftime(fmt) if at else "—"
