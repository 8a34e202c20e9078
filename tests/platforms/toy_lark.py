"""A toy third platform ("lark"), written the way a new bot/lark*.py set would be: a config section, a
webhook that turns a request into a neutral InboundMessage, a channel that renders Cards (here it
records them), and one Platform record for bot.platforms.register. It touches no production file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.edge import AppState
from bot.platforms import Platform
from handlers.model import Address, Card, InboundMessage

NAME = "lark"


@dataclass(frozen=True)
class LarkConfig:
    """[lark] app_id, token: the section a real platform would document in config.example.toml."""

    app_id: str = ""
    token: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.token)


def read_config(table: Mapping[str, Any], problem: Callable[[str, str], None]) -> LarkConfig:
    for key in set(table) - {"app_id", "token"}:
        problem(key, "unknown key (typo?)")
    return LarkConfig(str(table.get("app_id", "")), str(table.get("token", "")))


def init_app(app: Flask, state: AppState) -> None:
    app.add_url_rule("/lark/events", "lark_events", lambda: events_view(state), methods=["POST"])


def events_view(state: AppState) -> tuple[Response, int]:
    """Verify (a shared token stands in for a signature), decode into the neutral message, store, answer."""
    config = state.settings.platform(NAME)
    if config is None or not config.enabled:
        abort(404)
    if request.headers.get("X-Lark-Token") != config.token:
        abort(403)
    body = request.get_json(force=True)
    msg = InboundMessage(platform=NAME, sender=body["open_id"], conversation=body["chat_id"], text=body["text"],
                         msg_id=body["message_id"], time=state.clock(), source="app")
    state.accept(msg)
    return jsonify({}), 200


class LarkChannel:
    """Sends Cards to Lark users; records them, as the fake of a platform API would."""

    name = NAME
    per_minute = 100

    def __init__(self) -> None:
        self.sent: list[tuple[Address, Card]] = []

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        self.sent.append((address, card))
        return f"lark-msg-{len(self.sent)}"


def build_channel(settings: Settings, factory: sessionmaker[Session]) -> LarkChannel:
    return LarkChannel()


LARK = Platform(NAME, init_app, build_channel, "lark_userid", read_config=read_config)
