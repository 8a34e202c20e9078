"""The platform edge: the Flask app, config loading, and one module per chat platform."""

from __future__ import annotations

from bot.app import create_app

__all__ = ["create_app"]
