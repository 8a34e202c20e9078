"""The platform edge: the Flask app, config loading, and one module per chat platform.

`create_app` is imported lazily so that `bot.config` stays importable without Flask (handlers and
scheduler jobs read the settings types).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import log_safety

log_safety.install()  # every process that runs the edge logs untrusted values escaped

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Any = None, **kwargs: Any) -> Flask:
    """Build the web app (gunicorn: `bot:create_app()`); see bot.app.create_app."""
    from bot.app import create_app as _create_app

    return _create_app(settings, **kwargs)
