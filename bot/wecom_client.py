"""A small WeCom API client on `requests`: shared token cache, one token refetch, timeouts, errcodes.

Not wechatpy's WeChatClient: its gettoken URL ignores API_BASE_URL, `auto_retry` refetches a revoked
token without limit, its HTTP calls have no timeout by default, 45033 is a plain exception and there
is no template_card helper — overriding all that leaves little of it. Every call here goes to
`[wecom] api_base` (gettoken too), carries `[wecom] timeout_seconds`, and reports failures as
WeComError with `retryable` set for what a later attempt can fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session, sessionmaker

from bot.config import WeComConfig
from storage import tokens
from storage.common import utcnow
from storage.db import transaction

log = logging.getLogger(__name__)

TOKEN_INVALID = frozenset({40014, 42001})  # invalid / expired access_token: refetch once
RETRY_AFTER = {
    -1: 5.0,  # system busy
    45009: 60.0,  # call frequency over the limit
    45033: 5.0,  # too many concurrent calls
    45011: 60.0,  # API minute limit
}


class WeComError(Exception):
    """A failed WeCom API call; `retryable` says whether trying again later can succeed."""

    def __init__(self, errcode: int, errmsg: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"wecom errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.retryable = retryable
        self.retry_after = retry_after

    @classmethod
    def from_code(cls, errcode: int, errmsg: str) -> WeComError:
        retryable = errcode in RETRY_AFTER or errcode in TOKEN_INVALID
        return cls(errcode, errmsg, retryable, RETRY_AFTER.get(errcode))


# Pseudo errcodes for failures below the API (never sent by WeCom).
TIMEOUT, UNREACHABLE, HTTP_ERROR, BAD_RESPONSE = -1001, -1002, -1003, -1004


class WeComClient:
    """Calls one WeCom app (corp_id + secret) with an access token cached in the database."""

    def __init__(self, config: WeComConfig, factory: sessionmaker[Session], secret: str | None = None,
                 clock: Callable[[], datetime] = utcnow, http: requests.Session | None = None) -> None:
        self.config = config
        self.factory = factory
        self.secret = secret if secret is not None else config.secret
        self.clock = clock
        self.http = http or requests.Session()
        host = urlsplit(config.api_base).netloc
        digest = hashlib.sha256(self.secret.encode()).hexdigest()[:12]
        # One row per app and API host: workers share it; a test fake never sees a real token.
        self.token_name = f"wecom:{config.corp_id}:{digest}@{host}"

    # ------------------------------------------------------------------------------------ API calls

    def get(self, path: str, params: dict[str, Any] | None = None, now: datetime | None = None) -> dict[str, Any]:
        return self.call("GET", path, params=params, now=now)

    def post(self, path: str, body: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        return self.call("POST", path, body=body, now=now)

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, now: datetime | None = None) -> dict[str, Any]:
        """One API call; a revoked token (40014/42001) is refetched once, never more."""
        now = now or self.clock()
        for attempt in (1, 2):
            token = self.access_token(now)
            data = self._request(method, path, {**(params or {}), "access_token": token}, body)
            errcode = int(data.get("errcode") or 0)
            if errcode in TOKEN_INVALID and attempt == 1:
                log.info("wecom token rejected (%s); fetching a new one", errcode)
                with transaction(self.factory) as session:
                    tokens.invalidate(session, self.token_name, token)
                continue
            if errcode:
                raise WeComError.from_code(errcode, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------ the token

    def access_token(self, now: datetime) -> str:
        """The shared token, fetched from gettoken when the cache has none (fetching happens outside
        any transaction: no database lock is held while WeCom answers)."""
        with transaction(self.factory) as session:
            cached = tokens.cached(session, self.token_name, now)
        if cached:
            return cached
        data = self._request("GET", "gettoken", {"corpid": self.config.corp_id, "corpsecret": self.secret}, None)
        errcode = int(data.get("errcode") or 0)
        if errcode or not data.get("access_token"):
            raise WeComError.from_code(errcode or BAD_RESPONSE, str(data.get("errmsg", "no access_token")))
        token = str(data["access_token"])
        with transaction(self.factory) as session:
            tokens.store(session, self.token_name, token, int(data.get("expires_in") or 7200), now)
        return token

    # ------------------------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
        url = self.config.api_base + path
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            resp = self.http.request(method, url, params=params, data=data, headers=headers,
                                     timeout=self.config.timeout_seconds)
        except requests.Timeout:
            raise WeComError(TIMEOUT, f"{path}: no answer within {self.config.timeout_seconds} s", True) from None
        except requests.RequestException as exc:
            raise WeComError(UNREACHABLE, f"{path}: {type(exc).__name__}", True) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise WeComError(HTTP_ERROR, f"{path}: HTTP {resp.status_code}", True)
        try:
            payload = resp.json()
        except ValueError:
            raise WeComError(BAD_RESPONSE, f"{path}: HTTP {resp.status_code}, not JSON", resp.ok) from None
        if not isinstance(payload, dict):
            raise WeComError(BAD_RESPONSE, f"{path}: unexpected JSON", False)
        return payload
