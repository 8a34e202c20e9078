"""A safety pull of the conversation archive on every tick.

WeCom announces new archived messages with `msgaudit_notify`; a notification lost (the service was
down, the callback failed) would leave messages unread until the next one. Pulling from the stored seq
on every tick as well costs one empty fetch when nothing is new.
"""

from __future__ import annotations

import logging

from handlers import archive
from handlers.context import Context

log = logging.getLogger(__name__)


def pull_missed_archive_messages(ctx: Context) -> list[str]:
    lines = []
    for platform in archive.configured_platforms():
        try:
            report = archive.pull_configured(ctx, platform)
        except archive.ArchiveUnavailable as exc:
            log.warning("%s archive unavailable for the safety pull: %s", platform, exc)
            continue
        if report is not None and report.stored:
            lines.append(f"{platform}: {report}")
    return lines
