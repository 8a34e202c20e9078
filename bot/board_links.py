"""Signed one-time board login links (itsdangerous) and the board's cookie secret.

A link carries the user's id and a random nonce, signed with `[board] secret` and stamped with the
time it was made; the board refuses it after `[board] link_minutes` and a second time (the nonce is
stored when first used). No flask here: the runtime registers `link_maker` for handlers.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from bot.config import Settings

SALT = "salesbot-board-login"
# Without [board] secret the links work in this process only (`salesbot serve`); several processes
# (gunicorn beside `salesbot worker`) need the same configured secret.
_PROCESS_SECRET = secrets.token_urlsafe(32)


class LinkRefused(Exception):
    """A login link that is forged, tampered with or expired."""


def board_secret(settings: Settings) -> str:
    return settings.board.secret or _PROCESS_SECRET


def cookie_secret(settings: Settings) -> str:
    """The session cookie's key: derived, so a login link's signature never doubles as a cookie's."""
    return hashlib.sha256(f"cookie:{board_secret(settings)}".encode()).hexdigest()


def _serializer(settings: Settings, clock: Callable[[], datetime]) -> URLSafeTimedSerializer:
    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:  # the injected clock, not time.time()
            return int(clock().timestamp())

    return URLSafeTimedSerializer(board_secret(settings), salt=SALT, signer=ClockedSigner)


def make_token(settings: Settings, user_id: str, now: datetime) -> str:
    return str(_serializer(settings, lambda: now).dumps({"u": user_id, "n": secrets.token_urlsafe(16)}))


def read_token(settings: Settings, token: str, now: datetime) -> tuple[str, str]:
    """(user id, nonce) of a valid link made at most link_minutes ago; raises LinkRefused otherwise."""
    try:
        data: Any = _serializer(settings, lambda: now).loads(token, max_age=settings.board.link_minutes * 60)
    except SignatureExpired as exc:
        raise LinkRefused("expired") from exc
    except BadSignature as exc:
        raise LinkRefused("bad signature") from exc
    if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("n"), str):
        raise LinkRefused("malformed")
    return data["u"], data["n"]


def link_maker(settings: Settings) -> Callable[[str, datetime], str]:
    """What handlers call (handlers.health.links): a login URL for a user, made at `now`."""
    base = settings.server.public_url.rstrip("/")

    def make(user_id: str, now: datetime) -> str:
        return f"{base}/board/login/{make_token(settings, user_id, now)}"

    return make
