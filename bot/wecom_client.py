"""The WeCom API client: wechatpy's `enterprise.WeChatClient`, with the defaults a worker cannot live with
overridden, and the access token shared by every worker through the database.

wechatpy (the stack's WeCom SDK) does the HTTP session, URL joining, JSON bodies and the errcode →
exception mapping. What it does not do right for us is overridden in `_WeChatClient`:
- `API_BASE_URL` comes from `[wecom] api_base`, and `fetch_access_token` (which hard-codes
  qyapi.weixin.qq.com and sends gettoken without a timeout) asks that host too;
- `auto_retry` is off: on 40014/42001 it refetches the token without limit. `WeComClient.call`
  refetches once and then gives up, so the outbox retries later;
- every call carries `[wecom] timeout_seconds` (wechatpy's default is no timeout at all).
Calls go through wechatpy's generic `get`/`post`: it has no template_card helper (message/send and
message/update_template_card take the body as is) and `external_contact.get` takes no `cursor`.

The token is passed explicitly (`params["access_token"]`, which wechatpy then leaves alone) instead of
through a wechatpy `SessionStorage`: `SessionStorage.get(key)` has no clock, but the cache is judged at
the caller's `now` (the delivery job's clock); its `delete(key)` cannot say "only the value WeCom just
rejected", so it would also drop a fresher token another worker stored meanwhile; and wechatpy's
`access_token` property keeps a second, per-process expiry from `time.time()`. So the token lives in the
`platform_tokens` table (storage/tokens.py) only, and wechatpy's own session is a guard that refuses
to hold one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.enterprise import WeChatClient
from wechatpy.exceptions import APILimitedException, WeChatClientException
from wechatpy.session import SessionStorage

from bot.config import WeComConfig
from storage import tokens
from storage.common import utcnow
from storage.db import transaction

log = logging.getLogger(__name__)

TOKEN_INVALID = frozenset({40014, 42001})  # invalid / expired access_token: refetch once
RETRY_AFTER = {
    -1: 5.0,  # system busy
    45009: 60.0,  # call frequency over the limit (wechatpy: APILimitedException)
    45033: 5.0,  # too many concurrent calls (wechatpy: a plain WeChatClientException)
    45011: 60.0,  # API minute limit
}
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


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
        self.wechat = _WeChatClient(config, self.secret, http)
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
            try:
                return self._invoke(method, path, {**(params or {}), "access_token": token}, body)
            except WeComError as exc:
                if exc.errcode not in TOKEN_INVALID or attempt == 2:
                    raise
                log.info("wecom token rejected (%s); fetching a new one", exc.errcode)
                with transaction(self.factory) as session:
                    tokens.invalidate(session, self.token_name, token)
        raise AssertionError("unreachable")

    def _invoke(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs.update(data=body, headers=JSON_HEADERS)  # wechatpy JSON-encodes a dict body as UTF-8
        send = self.wechat.get if method == "GET" else self.wechat.post
        return self._checked(path, lambda: send(path, **kwargs))

    def _checked(self, path: str, request: Callable[[], Any]) -> dict[str, Any]:
        """The answer of one wechatpy request, or WeComError for whatever went wrong."""
        try:
            result = request()
        except (requests.RequestException, WeChatClientException) as exc:
            raise _error_of(path, self.config.timeout_seconds, exc) from exc
        return _as_dict(path, result)

    # ------------------------------------------------------------------------------------ the token

    def access_token(self, now: datetime) -> str:
        """The shared token, fetched from gettoken when the cache has none (fetching happens outside
        any transaction: no database lock is held while WeCom answers)."""
        with transaction(self.factory) as session:
            cached = tokens.cached(session, self.token_name, now)
        if cached:
            return cached
        data = self._checked("gettoken", self.wechat.fetch_access_token)
        if not data.get("access_token"):
            raise WeComError(BAD_RESPONSE, "gettoken: no access_token", False)
        token = str(data["access_token"])
        with transaction(self.factory) as session:
            tokens.store(session, self.token_name, token, int(data.get("expires_in") or 7200), now)
        return token


class _WeChatClient(WeChatClient):
    """wechatpy's enterprise client aimed at `[wecom] api_base`, with a timeout and without auto_retry."""

    def __init__(self, config: WeComConfig, secret: str, http: requests.Session | None) -> None:
        super().__init__(config.corp_id, secret, session=_NoTokenInProcess(), timeout=config.timeout_seconds,
                         auto_retry=False)
        self.API_BASE_URL = config.api_base  # every endpoint, instead of qyapi.weixin.qq.com
        if http is not None:
            self._http = http

    def fetch_access_token(self) -> Any:
        """gettoken on API_BASE_URL with the timeout (wechatpy's own hard-codes the host and has none).
        Returns the answer; WeComClient stores the token, wechatpy's session never holds it."""
        res = self._http.get(self.API_BASE_URL + "gettoken", timeout=self.timeout,
                             params={"corpid": self.corp_id, "corpsecret": self.secret})
        try:
            res.raise_for_status()
        except requests.HTTPError as exc:  # what wechatpy's _request raises for an HTTP error status
            raise WeChatClientException(None, None, client=self, request=exc.request, response=exc.response) from None
        return self._handle_result(res)


class _NoTokenInProcess(SessionStorage):
    """wechatpy's session storage, kept empty on purpose: the token lives in the database and every call
    passes it explicitly, so a wechatpy helper that reads `client.access_token` fails loudly instead of
    silently caching a token per process."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("wechatpy's token cache is not used: call through WeComClient (shared token)")

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        raise RuntimeError("wechatpy's token cache is not used: call through WeComClient (shared token)")

    def delete(self, key: str) -> None:
        pass


def _error_of(path: str, timeout: float, exc: requests.RequestException | WeChatClientException) -> WeComError:
    """WeComError for what requests or wechatpy raised, `retryable` for what a later try can fix."""
    if isinstance(exc, requests.Timeout):
        return WeComError(TIMEOUT, f"{path}: no answer within {timeout} s", True)
    if isinstance(exc, requests.RequestException):
        return WeComError(UNREACHABLE, f"{path}: {type(exc).__name__}", True)
    if isinstance(exc, APILimitedException):  # 45009
        return WeComError(int(exc.errcode), str(exc.errmsg), True, RETRY_AFTER[45009])
    if isinstance(exc, WeChatClientException) and exc.errcode is None:  # an HTTP error status
        status = exc.response.status_code if exc.response is not None else 0
        return WeComError(HTTP_ERROR, f"{path}: HTTP {status}", status >= 500 or status == 429)
    return WeComError.from_code(int(exc.errcode), str(exc.errmsg))


def _as_dict(path: str, result: Any) -> dict[str, Any]:
    """wechatpy hands back the raw Response when the body is not JSON, and any JSON as it is."""
    if isinstance(result, requests.Response):  # a 2xx that is not JSON: a proxy page, try again later
        raise WeComError(BAD_RESPONSE, f"{path}: HTTP {result.status_code}, not JSON", True)
    if not isinstance(result, dict):
        raise WeComError(BAD_RESPONSE, f"{path}: unexpected JSON", False)
    return result
