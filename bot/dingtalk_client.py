"""Calls to DingTalk's two API hosts, with shared tokens and errors mapped for the outbox.

- oapi (`[dingtalk] api_base`): token from `gettoken`, work notifications through dingtalk-sdk's
  `client.post` (its `message.asyncsend_v2` goes to a hard-coded gateway; see PROTOCOLS.md).
- openapi (`[dingtalk] openapi_base`): token from `/v1.0/oauth2/accessToken`, one-to-one robot
  messages; the SDK has no v1.0 calls, so these few are written on `requests`.
- sessionWebhook: the reply URL that comes with each robot message (no token).

Tokens live in the database (storage/tokens.py) so every worker shares one per host. Every failure is
a DeliveryError: retryable for 5xx, timeouts and throttling; a rejected token is forgotten and
fetched again once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from dingtalk.client import AppKeyClient  # type: ignore[import-untyped]
from dingtalk.core.exceptions import DingTalkClientException  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from bot.config import DingTalkConfig
from scheduler.delivery import DeliveryError
from storage import tokens
from storage.db import transaction

log = logging.getLogger(__name__)

OAPI, OPENAPI = "oapi", "openapi"
# oapi errcodes: the token is invalid or expired (the SDK's own list) -> fetch a new one, once.
OAPI_TOKEN_ERRORS = {33001, 40001, 40014, 42001}
# oapi errcodes worth retrying later: system busy, and the per-second/per-minute call limits.
OAPI_RETRYABLE = {-1, 90002, 90005, 90006, 90018, 143103, 143104}
# v1.0 error codes for a rejected token (it also answers HTTP 401).
OPENAPI_TOKEN_CODES = {"InvalidAuthentication", "InvalidAccessToken", "AccessTokenExpired"}
# batchSend answers this when the robot cannot see the staff id at all: try a work notification.
OPENAPI_UNREACHABLE_CODES = {"staffId.notExisted"}
THROTTLE_RETRY_SECONDS = 60.0

_call_token: ContextVar[str] = ContextVar("dingtalk_oapi_token")


class TokenRejected(Exception):
    """The API refused the access token: forget it and fetch another."""


class WebhookGone(DeliveryError):
    """The sessionWebhook no longer accepts messages; the caller sends one-to-one instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


@dataclass(frozen=True)
class BatchSendResult:
    """What batchSend reported: the query key, and the staff ids the robot could not reach."""

    process_query_key: str
    unreachable: frozenset[str]


class SharedTokens:
    """One access token per API host, cached in the database and shared by every worker."""

    def __init__(self, factory: sessionmaker[Session], app_key: str,
                 fetchers: dict[str, Callable[[], tuple[str, int]]]) -> None:
        self._factory = factory
        self._app_key = app_key
        self._fetchers = fetchers

    def name(self, host: str) -> str:
        return f"dingtalk:{host}:{self._app_key}"

    def get(self, host: str, now: datetime) -> str:
        with transaction(self._factory) as session:
            value = tokens.cached(session, self.name(host), now)
        if value:
            return value
        value, expires_in = self._fetchers[host]()
        with transaction(self._factory) as session:
            tokens.store(session, self.name(host), value, expires_in, now)
        log.info("fetched a new DingTalk %s access token (valid %d s)", host, expires_in)
        return value

    def invalidate(self, host: str, value: str) -> None:
        with transaction(self._factory) as session:
            tokens.invalidate(session, self.name(host), value)


class _OapiClient(AppKeyClient):  # type: ignore[misc]
    """dingtalk-sdk's client on the configured oapi host; the token comes from SharedTokens.

    auto_retry is off: the SDK would refetch a persistently rejected token without limit.
    """

    def __init__(self, config: DingTalkConfig) -> None:
        super().__init__("", config.app_key, config.app_secret, timeout=config.timeout_seconds, auto_retry=False)
        self.API_BASE_URL = config.api_base

    @property
    def access_token(self) -> str:
        return _call_token.get("")  # set by DingTalkClient._oapi_post for each call


class DingTalkClient:
    """The handful of DingTalk calls salesbot makes."""

    def __init__(self, config: DingTalkConfig, factory: sessionmaker[Session]) -> None:
        self.config = config
        self._http = requests.Session()
        self._oapi = _OapiClient(config)
        self.tokens = SharedTokens(factory, config.app_key,
                                   {OAPI: self._fetch_oapi_token, OPENAPI: self._fetch_openapi_token})

    @property
    def robot_code(self) -> str:
        return self.config.robot_code or self.config.app_key

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------ sending

    def send_robot_markdown(self, user_ids: list[str], title: str, text: str, now: datetime) -> BatchSendResult:
        """Send a markdown robot message one-to-one (`/v1.0/robot/oToMessages/batchSend`)."""
        body = {"robotCode": self.robot_code, "userIds": user_ids, "msgKey": "sampleMarkdown",
                "msgParam": json.dumps({"title": title, "text": text}, ensure_ascii=False)}
        try:
            data = self._openapi_post("v1.0/robot/oToMessages/batchSend", body, now)
        except _Unreachable:
            return BatchSendResult("", frozenset(user_ids))
        unreachable = set(data.get("invalidStaffIdList") or []) | set(data.get("flowControlledStaffIdList") or [])
        return BatchSendResult(str(data.get("processQueryKey") or ""), frozenset(unreachable))

    def send_work_notice(self, user_ids: list[str], msg: dict[str, Any], now: datetime) -> str:
        """Send a work notification (工作通知) through the app; returns its task id."""
        if not self.config.agent_id:
            raise DeliveryError("a work notification needs [dingtalk] agent_id, which is not set", retryable=False)
        body = {"agent_id": self.config.agent_id, "userid_list": ",".join(user_ids), "msg": msg}
        result = self._oapi_post("/topapi/message/corpconversation/asyncsend_v2", body, now)
        return str(result.get("task_id", ""))

    def reply_in_session(self, webhook: str, payload: dict[str, Any]) -> None:
        """Post to a robot message's sessionWebhook (no token; valid about 90 minutes)."""
        response = self._request("POST", webhook, json=payload)
        data = _json_of(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise _status_error("sessionWebhook", response, data)
        errcode = data.get("errcode", 0 if response.ok else None)
        if errcode != 0:
            raise WebhookGone(f"sessionWebhook refused: HTTP {response.status_code} {data.get('errmsg', '')}")

    # ------------------------------------------------------------------------------------ oapi

    def _oapi_post(self, path: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self.tokens.get(OAPI, now)
            reset = _call_token.set(token)
            try:
                result = self._oapi.post(path, data=body)
            except DingTalkClientException as exc:
                if exc.errcode in OAPI_TOKEN_ERRORS and attempt == 1:
                    log.info("DingTalk oapi token rejected (%s); fetching a new one", exc.errcode)
                    self.tokens.invalidate(OAPI, token)
                    continue
                raise _oapi_error(path, exc) from None
            except requests.RequestException as exc:
                raise _network_error(path, exc) from None
            finally:
                _call_token.reset(reset)
            if not isinstance(result, dict):  # the SDK hands back the raw response when it is not JSON
                raise DeliveryError(f"{path}: the answer is not JSON")
            return dict(result)
        raise AssertionError("unreachable")

    def _fetch_oapi_token(self) -> tuple[str, int]:
        try:
            result = self._oapi.get_access_token()
        except DingTalkClientException as exc:
            raise DeliveryError(f"DingTalk gettoken failed: {exc.errcode} {exc.errmsg}") from None
        except requests.RequestException as exc:
            raise _network_error("gettoken", exc) from None
        return str(result["access_token"]), int(result.get("expires_in", 7200))

    # ------------------------------------------------------------------------------------ openapi

    def _openapi_post(self, path: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self.tokens.get(OPENAPI, now)
            try:
                return self._openapi_call(path, body, {"x-acs-dingtalk-access-token": token})
            except TokenRejected as exc:
                if attempt == 2:
                    raise DeliveryError(f"{path}: access token rejected twice: {exc}") from None
                log.info("DingTalk openapi token rejected (%s); fetching a new one", exc)
                self.tokens.invalidate(OPENAPI, token)
        raise AssertionError("unreachable")

    def _openapi_call(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        response = self._request("POST", self.config.openapi_base + path, json=body, headers=headers)
        data = _json_of(response)
        if response.ok:
            return data
        code = str(data.get("code", ""))
        if response.status_code == 401 or code in OPENAPI_TOKEN_CODES:
            raise TokenRejected(code or f"HTTP {response.status_code}")
        if code in OPENAPI_UNREACHABLE_CODES:
            raise _Unreachable(code)
        raise _status_error(path, response, data)

    def _fetch_openapi_token(self) -> tuple[str, int]:
        body = {"appKey": self.config.app_key, "appSecret": self.config.app_secret}
        response = self._request("POST", self.config.openapi_base + "v1.0/oauth2/accessToken", json=body)
        data = _json_of(response)
        if not response.ok or not data.get("accessToken"):
            raise DeliveryError(f"DingTalk accessToken failed: HTTP {response.status_code} "
                                f"{data.get('code', '')} {data.get('message', '')}".rstrip())
        return str(data["accessToken"]), int(data.get("expireIn", 7200))

    # ------------------------------------------------------------------------------------ login

    def login_staff_id(self, code: str, now: datetime) -> str | None:
        """The staff id of whoever DingTalk's login page gave this one-time auth code to, or None when
        DingTalk refuses the code or does not know them: userAccessToken -> contact/users/me (unionId)
        -> topapi/user/getbyunionid (the board's login; every step is DingTalk's, none is trusted input)."""
        body = {"clientId": self.config.app_key, "clientSecret": self.config.app_secret, "code": code,
                "grantType": "authorization_code"}
        answer = self._request("POST", self.config.openapi_base + "v1.0/oauth2/userAccessToken", json=body)
        token = _json_of(answer).get("accessToken") if answer.ok else None
        if not token:
            return None
        me = self._request("GET", self.config.openapi_base + "v1.0/contact/users/me",
                           headers={"x-acs-dingtalk-access-token": str(token)})
        union = _json_of(me).get("unionId") if me.ok else None
        if not union:
            return None
        try:
            found = self._oapi_post("/topapi/user/getbyunionid", {"unionid": union}, now)
        except DeliveryError:
            return None
        userid = (found.get("result") or {}).get("userid")
        return str(userid) if userid else None

    # ------------------------------------------------------------------------------------ HTTP

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self._http.request(method, url, timeout=self.config.timeout_seconds, **kwargs)
        except requests.RequestException as exc:
            raise _network_error(url.split("?")[0], exc) from None


class _Unreachable(Exception):
    """batchSend says the robot cannot reach these staff ids."""


def _json_of(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: requests.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "")), 1.0)
    except ValueError:
        return THROTTLE_RETRY_SECONDS


def _status_error(what: str, response: requests.Response, data: dict[str, Any]) -> DeliveryError:
    code = str(data.get("code", data.get("errcode", "")))
    reason = f"{what}: HTTP {response.status_code} {code} {data.get('message', data.get('errmsg', ''))}".rstrip()
    if response.status_code == 429 or code.startswith(("Forbidden.AccessDenied.Qp", "Throttling")):
        return DeliveryError(reason, retryable=True, retry_after=_retry_after(response))
    return DeliveryError(reason, retryable=response.status_code >= 500)


def _oapi_error(path: str, exc: DingTalkClientException) -> DeliveryError:
    if exc.errcode is None:  # an HTTP error status: the SDK keeps the response
        status = exc.response.status_code if exc.response is not None else 0
        retryable = status >= 500 or status == 429 or status == 0
        return DeliveryError(f"{path}: HTTP {status}", retryable=retryable,
                             retry_after=THROTTLE_RETRY_SECONDS if status == 429 else None)
    reason = f"{path}: errcode {exc.errcode} {exc.errmsg}"
    if exc.errcode in OAPI_TOKEN_ERRORS:  # rejected again right after a refetch: try later
        return DeliveryError(reason + " (token rejected twice)", retryable=True)
    if exc.errcode in OAPI_RETRYABLE:
        return DeliveryError(reason, retryable=True, retry_after=THROTTLE_RETRY_SECONDS if exc.errcode != -1 else None)
    return DeliveryError(reason, retryable=False)


def _network_error(what: str, exc: requests.RequestException) -> DeliveryError:
    kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
    return DeliveryError(f"{what}: {kind}: {exc.__class__.__name__}", retryable=True)
