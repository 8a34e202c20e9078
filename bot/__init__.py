"""The platform edge: the Flask app, config loading, and one module per chat platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import log_safety

if TYPE_CHECKING:
    from flask import Flask

log_safety.install()  # every process that runs the edge logs untrusted values escaped

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """The web app (`gunicorn 'bot:create_app()'`; arguments as bot.app.create_app). bot.app loads on the
    call, not with the package, so that a CLI command serving nothing imports neither Flask nor every
    platform."""
    from bot.app import create_app as make_app

    return make_app(*args, **kwargs)
