"""Times as users read them: China Standard Time (UTC+8, no daylight saving), whatever the server's zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "北京时间")


def local_time(at: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """Format an aware UTC time in China time; '—' for no time."""
    return at.astimezone(CHINA_TIME).strftime(fmt) if at else "—"


def duration(delta: timedelta) -> str:
    """25 小时 / 2 天 3 小时 / 40 分钟."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    return f"{hours} 小时" if hours else f"{minutes} 分钟"
