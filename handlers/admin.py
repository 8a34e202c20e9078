"""Telling admins about the running service: a config edit that was rejected and did not take effect."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers import outbox
from handlers.config_errors import ConfigError
from handlers.context import Context
from handlers.model import Card
from handlers.settings import BusinessSettings
from storage import directory
from storage.db import transaction

log = logging.getLogger(__name__)

ADMIN_ROLE = "admin"


def config_rejected_cards(ctx: Context, error: ConfigError) -> list[Card]:
    """One card to every admin saying which file, key and problem, and that the old rules stay in force."""
    admins = tuple(u.id for u in directory.with_role(ctx.session, ADMIN_ROLE))
    if not admins:
        log.warning("config edit rejected and no user has role %r to tell", ADMIN_ROLE)
        return []
    sources = sorted({p.source for p in error.problems})
    lines = [f"文件：{'、'.join(sources)}", "问题："]
    lines += [f"· {p.key}：{p.message}" for p in error.problems]
    lines.append("修改没有生效，旧规则继续生效。请修正后保存，salesbot 会自动重新加载。")
    # The same error is told once a day, however many processes reload or however often it is saved.
    digest = hashlib.sha256(str(error).encode("utf-8")).hexdigest()[:16]
    return [Card(title="配置修改未生效", lines=tuple(lines), recipients=admins,
                 dedupe_key=f"config-rejected:{digest}:{ctx.now:%Y-%m-%d}")]


def report_config_error(factory: sessionmaker[Session], settings: BusinessSettings, error: ConfigError,
                        now: datetime) -> int:
    """Queue the admins' card for a rejected config edit; returns how many cards were queued."""
    try:
        with transaction(factory) as session:
            ctx = Context(session, settings, now)
            return outbox.post(ctx, config_rejected_cards(ctx, error))
    except Exception:  # telling admins must not stop the pump; the error is in the log already
        log.exception("could not queue the admins' card about the rejected config edit")
        return 0
