"""The platform edge: the Flask app, config loading, and one module per chat platform."""

from __future__ import annotations

from bot import log_safety

log_safety.install()  # every process that runs the edge logs untrusted values escaped

from bot.app import create_app  # noqa: E402  (after install: the app's modules log from import on)

__all__ = ["create_app"]
