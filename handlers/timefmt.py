"""Times as users and admins read them: in the configured zone (`[server] timezone`, default
Asia/Shanghai, i.e. China Standard Time), whatever the server's own zone."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"

# Set once by the edge from the settings (bot.runtime.open_runtime); the handlers format with it.
_display_zone: tzinfo = ZoneInfo(DEFAULT_ZONE)


def zone_of(name: str) -> tzinfo:
    """The zone called `name` (IANA, e.g. Asia/Shanghai); raises ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(name) from exc


def use_zone(name: str) -> None:
    """Make `name` the zone every user-facing time is shown in."""
    global _display_zone
    _display_zone = zone_of(name)


def display_zone() -> tzinfo:
    return _display_zone


def local_time(at: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """Format an aware time in the configured zone; '—' for no time."""
    return at.astimezone(_display_zone).strftime(fmt) if at else "—"


def duration(delta: timedelta) -> str:
    """25 小时 / 2 天 3 小时 / 40 分钟."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    return f"{hours} 小时" if hours else f"{minutes} 分钟"
