"""DingTalk's two signatures: the robot's HMAC header and the event subscription's SHA1 + AES envelope.

Robot messages carry `timestamp` (ms) and `sign` = base64(HMAC-SHA256(appSecret, timestamp + "\\n" +
appSecret)). Event callbacks use the WeCom-style scheme, whose trailing id is the app key for apps made
in the developer console (dingtalk-sdk's clients would put the CorpId there).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
from datetime import datetime, timedelta
from typing import Any

from dingtalk.core.exceptions import DingTalkException, InvalidCorpIdOrSuiteKeyException  # type: ignore[import-untyped]
from dingtalk.crypto import DingTalkCrypto  # type: ignore[import-untyped]

# DingTalk refuses robot requests whose timestamp is more than an hour from its own clock; so do we.
ROBOT_SIGN_WINDOW = timedelta(hours=1)
# A signed event older (or newer) than this is a replay, not a DingTalk retry: the WeCom callback's window.
EVENT_WINDOW = timedelta(hours=1)


class BadSignature(Exception):
    """The request is not from DingTalk (wrong, missing or stale signature): answer 403."""


class MalformedRequest(Exception):
    """Signed correctly but unreadable (bad JSON, bad ciphertext, missing fields): answer 400."""


def robot_sign(timestamp: str, secret: str) -> str:
    """The `sign` header DingTalk computes for a robot message sent at `timestamp` (ms)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_robot_sign(timestamp: str | None, sign: str | None, secret: str, now: datetime) -> None:
    """Raise BadSignature unless `sign` matches and `timestamp` is within an hour of `now`."""
    if not timestamp or not sign or not secret:
        raise BadSignature("missing timestamp or sign header")
    try:
        sent = datetime.fromtimestamp(int(timestamp) / 1000, tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise BadSignature(f"timestamp {timestamp[:20]!r} is not a number") from None
    if abs(now - sent) > ROBOT_SIGN_WINDOW:
        raise BadSignature(f"timestamp {timestamp} is more than an hour from now")
    if not hmac.compare_digest(robot_sign(timestamp, secret).encode(), sign.encode()):
        raise BadSignature("sign does not match")


def check_event_fresh(timestamp: str | None, now: datetime) -> None:
    """Raise MalformedRequest unless `timestamp` is a time in ms, BadSignature if outside EVENT_WINDOW."""
    try:
        sent = datetime.fromtimestamp(int(timestamp or "") / 1000, tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise MalformedRequest(f"timestamp {str(timestamp)[:20]!r} is not a time in milliseconds") from None
    if abs(now - sent) > EVENT_WINDOW:
        raise BadSignature(f"timestamp {timestamp} is outside the freshness window (a replay?)")


class EventCrypto:
    """Verify, decrypt and answer DingTalk event-subscription callbacks."""

    def __init__(self, token: str, aes_key: str, app_key: str) -> None:
        self._crypto = DingTalkCrypto(token, aes_key, app_key)
        self._token = token

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return hashlib.sha1("".join(sorted([self._token, timestamp, nonce, encrypt])).encode()).hexdigest()

    def decrypt(self, signature: str | None, timestamp: str | None, nonce: str | None, body: bytes) -> dict[str, Any]:
        """The event as a dict; BadSignature or MalformedRequest otherwise."""
        encrypt = _encrypt_field(body)
        if not signature or not timestamp or nonce is None:
            raise BadSignature("missing signature, timestamp or nonce")
        if not hmac.compare_digest(self.signature(timestamp, nonce, encrypt).encode(), signature.encode()):
            raise BadSignature("signature does not match")
        try:
            plain = self._crypto.decrypt_encrypt_str(signature, timestamp, nonce, encrypt)
        except InvalidCorpIdOrSuiteKeyException:
            raise BadSignature("the event was encrypted for another app key") from None
        except (DingTalkException, ValueError, TypeError, IndexError, struct.error, binascii.Error) as exc:
            raise MalformedRequest(f"cannot decrypt the event: {exc!r}") from None
        try:
            event = json.loads(plain)
        except (ValueError, RecursionError):
            raise MalformedRequest("the decrypted event is not JSON") from None
        if not isinstance(event, dict):
            raise MalformedRequest("the decrypted event is not a JSON object")
        return event

    def encrypt_reply(self, text: str, timestamp_ms: int, nonce: str | None = None) -> dict[str, str]:
        """The JSON DingTalk expects back: {msg_signature, timeStamp, nonce, encrypt}."""
        reply: dict[str, str] = self._crypto.encrypt_message(text, nonce or secrets.token_hex(8), str(timestamp_ms))
        return reply


def _encrypt_field(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays, e.g. "[" * 1000
        raise MalformedRequest("body is not JSON") from None
    encrypt = data.get("encrypt") if isinstance(data, dict) else None
    if not isinstance(encrypt, str) or not encrypt:
        raise MalformedRequest("body has no 'encrypt' string")
    return encrypt
