"""A fake DingTalk: the API hosts over real HTTP, and the Stream gateway over a real websocket.

`FakeDingTalkServer` answers the calls salesbot makes (oapi gettoken and work notifications, OpenAPI
accessToken and robot batchSend, sessionWebhook replies, the Stream open-connection call) on
127.0.0.1, port 0, records every request, and can be scripted to fail, hang or revoke its tokens.
`FakeStreamGateway` speaks the Stream protocol: it accepts a websocket with a ticket the fake server
issued, pushes CALLBACK/EVENT/SYSTEM frames and hands back the client's ACK.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.asyncio.server import ServerConnection, serve

HOLD_LIMIT = 10.0  # a held request is answered after this long even if nobody releases it


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def markdown(self) -> dict[str, str]:
        """title/text of a robot markdown message (batchSend or sessionWebhook)."""
        data = self.json
        if "msgParam" in data:
            return dict(json.loads(data["msgParam"]))
        return dict(data["markdown"])


@dataclass
class _Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeDingTalkServer:
    """DingTalk's oapi and OpenAPI hosts in one threaded HTTP server."""

    def __init__(self, app_key: str = "dingfakeappkey", app_secret: str = "fake-app-secret",
                 token_ttl: int = 7200) -> None:
        self.app_key, self.app_secret, self.token_ttl = app_key, app_secret, token_ttl
        self.requests: list[Recorded] = []
        self.invalid_staff_ids: set[str] = set()
        self.flow_controlled_staff_ids: set[str] = set()
        self.closed_sessions: set[str] = set()
        self.departments: dict[int, int] = {}  # dept_id -> parent_id (1 is the root)
        self.users: list[dict[str, Any]] = []
        self.gateway: FakeStreamGateway | None = None
        # Login (OAuth): a one-time code -> unionId, a user token -> unionId, unionId -> staff id
        self._codes: dict[str, str] = {}
        self._user_tokens: dict[str, str] = {}
        self.staff_by_union: dict[str, str] = {}
        self.next_login: str | None = None  # the union id the fake login page signs in
        self._tokens: set[str] = set()
        self._scripted: dict[str, list[_Scripted]] = {}
        self._holds: dict[str, list[threading.Event]] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeDingTalkServer:
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-dingtalk", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            for events in self._holds.values():
                for event in events:
                    event.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeDingTalkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    # ------------------------------------------------------------------------------ scripting

    def fail(self, path: str, status: int = 503, body: Any = None, times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests to `path` with this status and JSON body."""
        with self._lock:
            queue = self._scripted.setdefault(path, [])
            queue += [_Scripted(status, body if body is not None else {"code": "ServiceUnavailable"},
                                headers or {}) for _ in range(times)]

    def hold(self, path: str) -> threading.Event:
        """Keep the next request to `path` waiting until the returned event is set (a hung server)."""
        event = threading.Event()
        with self._lock:
            self._holds.setdefault(path, []).append(event)
        return event

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (DingTalk revoked them early)."""
        with self._lock:
            self._tokens.clear()

    def session_webhook(self, session: str = "session-1") -> str:
        return f"{self.url}robot/sendBySession?session={session}"

    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------------------------ answering

    def answer(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.requests.append(req)
            scripted = self._scripted.get(req.path)
            first = scripted.pop(0) if scripted else None
            holds = self._holds.get(req.path)
            hold = holds.pop(0) if holds else None
        if hold is not None:
            hold.wait(HOLD_LIMIT)
        if first is not None:
            return first.status, first.body, first.headers
        route = _ROUTES.get((req.method, req.path))
        if route is None:
            return 404, {"code": "NotFound", "message": f"{req.method} {req.path}"}, {}
        result: tuple[Any, ...] = route(self, req)
        return int(result[0]), result[1], dict(result[2]) if len(result) > 2 else {}

    def authorize(self, union_id: str, staff_id: str | None) -> str:
        """What DingTalk's login page does for a user: a one-time auth code for the redirect."""
        code = f"authcode-{next(self._counter)}"
        with self._lock:
            self._codes[code] = union_id
            if staff_id is not None:
                self.staff_by_union[union_id] = staff_id
        return code

    def _login_page(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        """login.dingtalk.com/oauth2/auth for `next_login` (union id): straight back with a code."""
        union = self.next_login
        if union is None or req.query.get("client_id") != self.app_key:
            return 403, {"code": "noLogin"}, {}
        code = self.authorize(union, None)
        target = f"{req.query['redirect_uri']}?{urlencode({'authCode': code, 'state': req.query.get('state', '')})}"
        return 302, {}, {"Location": target}

    def _user_access_token(self, req: Recorded) -> tuple[int, Any]:
        body = req.json or {}
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return 400, {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}
        with self._lock:
            union = self._codes.pop(str(body.get("code")), None)  # a code works once
        if union is None or body.get("grantType") != "authorization_code":
            return 400, {"code": "invalidAuthCode", "message": "不合法的临时授权码"}
        token = f"user-token-{next(self._counter)}"
        with self._lock:
            self._user_tokens[token] = union
        return 200, {"accessToken": token, "refreshToken": "r", "expireIn": 7200, "corpId": "dingcorp"}

    def _users_me(self, req: Recorded) -> tuple[int, Any]:
        with self._lock:
            union = self._user_tokens.get(req.headers.get("x-acs-dingtalk-access-token", ""))
        if union is None:
            return 401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}
        return 200, {"unionId": union, "nick": "someone", "openId": f"open-{union}"}

    def _getbyunionid(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.query.get("access_token")):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        staff = self.staff_by_union.get(str((req.json or {}).get("unionid")))
        if staff is None:
            return 200, {"errcode": 60121, "errmsg": "找不到该用户"}
        return 200, {"errcode": 0, "errmsg": "ok", "result": {"contact_type": 0, "userid": staff}}

    def _issue(self, prefix: str) -> str:
        token = f"{prefix}-{next(self._counter)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def _valid(self, token: str | None) -> bool:
        with self._lock:
            return token in self._tokens

    def _gettoken(self, req: Recorded) -> tuple[int, Any]:
        if req.query.get("appkey") != self.app_key or req.query.get("appsecret") != self.app_secret:
            return 200, {"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": self._issue("oapi-token"),
                     "expires_in": self.token_ttl}

    def _access_token(self, req: Recorded) -> tuple[int, Any]:
        body = req.json or {}
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return 400, {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}
        return 200, {"accessToken": self._issue("openapi-token"), "expireIn": self.token_ttl}

    def _batch_send(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.headers.get("x-acs-dingtalk-access-token")):
            return 401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}
        users = (req.json or {}).get("userIds") or []
        return 200, {"processQueryKey": f"pqk-{next(self._counter)}",
                     "invalidStaffIdList": [u for u in users if u in self.invalid_staff_ids],
                     "flowControlledStaffIdList": [u for u in users if u in self.flow_controlled_staff_ids]}

    def _asyncsend(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.query.get("access_token")):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        return 200, {"errcode": 0, "errmsg": "ok", "task_id": next(self._counter), "request_id": "req"}

    def _session_webhook(self, req: Recorded) -> tuple[int, Any]:
        if req.query.get("session") in self.closed_sessions:
            return 200, {"errcode": 300001, "errmsg": "session is expired"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    # the org directory: `departments` {dept_id: parent_id}, `users` [{userid, name, dept_id, active, manager}]

    def _department_listsub(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.query.get("access_token")):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        parent = int((req.json or {}).get("dept_id") or 1)
        subs = [{"dept_id": d, "parent_id": p, "name": f"部门{d}"} for d, p in self.departments.items() if p == parent]
        return 200, {"errcode": 0, "errmsg": "ok", "result": subs}

    def _user_list(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.query.get("access_token")):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        body = req.json or {}
        size = int(body.get("size") or 100)
        if size > 100:
            return 200, {"errcode": 40000, "errmsg": "size too large"}
        cursor = int(body.get("cursor") or 0)
        mine = [u for u in self.users if u.get("dept_id", 1) == int(body.get("dept_id") or 1)]
        page = mine[cursor:cursor + size]
        more = cursor + size < len(mine)
        return 200, {"errcode": 0, "errmsg": "ok", "result": {
            "has_more": more, "next_cursor": cursor + size if more else None,
            "list": [{"userid": u["userid"], "name": u["name"], "active": u.get("active", True)} for u in page]}}

    def _user_get(self, req: Recorded) -> tuple[int, Any]:
        if not self._valid(req.query.get("access_token")):
            return 200, {"errcode": 40014, "errmsg": "不合法的access_token"}
        found = next((u for u in self.users if u["userid"] == (req.json or {}).get("userid")), None)
        if found is None:
            return 200, {"errcode": 60121, "errmsg": "找不到该用户"}
        result = {"userid": found["userid"], "name": found["name"], "dept_id_list": [found.get("dept_id", 1)]}
        if found.get("manager"):
            result["manager_userid"] = found["manager"]
        return 200, {"errcode": 0, "errmsg": "ok", "result": result}

    def _open_connection(self, req: Recorded) -> tuple[int, Any]:
        body = req.json or {}
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return 401, {"code": "InvalidAuthentication", "message": "clientId or clientSecret is wrong"}
        if self.gateway is None:
            return 503, {"code": "NoGateway", "message": "no gateway attached"}
        return 200, {"endpoint": self.gateway.endpoint, "ticket": self.gateway.issue_ticket(body)}


_ROUTES = {
    ("GET", "/gettoken"): FakeDingTalkServer._gettoken,
    ("POST", "/v1.0/oauth2/accessToken"): FakeDingTalkServer._access_token,
    ("POST", "/v1.0/robot/oToMessages/batchSend"): FakeDingTalkServer._batch_send,
    ("POST", "/topapi/message/corpconversation/asyncsend_v2"): FakeDingTalkServer._asyncsend,
    ("POST", "/robot/sendBySession"): FakeDingTalkServer._session_webhook,
    ("POST", "/v1.0/gateway/connections/open"): FakeDingTalkServer._open_connection,
    ("POST", "/topapi/v2/department/listsub"): FakeDingTalkServer._department_listsub,
    ("POST", "/topapi/v2/user/list"): FakeDingTalkServer._user_list,
    ("POST", "/topapi/v2/user/get"): FakeDingTalkServer._user_get,
    ("POST", "/v1.0/oauth2/userAccessToken"): FakeDingTalkServer._user_access_token,
    ("GET", "/v1.0/contact/users/me"): FakeDingTalkServer._users_me,
    ("GET", "/oauth2/auth"): FakeDingTalkServer._login_page,
    ("POST", "/topapi/user/getbyunionid"): FakeDingTalkServer._getbyunionid,
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a held request (a timeout test) is expected; stay quiet."""


def _handler_for(fake: FakeDingTalkServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            req = Recorded(method, parts.path, dict(parse_qsl(parts.query)),
                           {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            status, body, headers = fake.answer(req)
            payload = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    return Handler


class FakeStreamGateway:
    """DingTalk's Stream gateway: a websocket server that pushes frames and collects ACKs."""

    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []  # bodies of the open-connection calls
        self.connected_paths: list[str] = []
        self._connections = threading.Condition()
        self._tickets: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-stream-gateway", daemon=True)
        self._server: Any = None
        self._conn: ServerConnection | None = None
        self._connected: asyncio.Event | None = None
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def start(self) -> FakeStreamGateway:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    async def _start(self) -> None:
        self._connected = asyncio.Event()
        self._server = await serve(self._handle, "127.0.0.1", 0)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def __enter__(self) -> FakeStreamGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/connect"

    def issue_ticket(self, body: dict[str, Any]) -> str:
        ticket = uuid.uuid4().hex
        self.opened.append(body)
        self._tickets.add(ticket)
        return ticket

    async def _handle(self, conn: ServerConnection) -> None:
        path = conn.request.path if conn.request else ""
        query = dict(parse_qsl(urlsplit(path).query))
        if query.get("ticket") not in self._tickets:
            await conn.close(1008, "invalid ticket")
            return
        self._tickets.discard(query["ticket"])  # a ticket opens one connection
        self._conn = conn
        assert self._connected is not None
        self._connected.set()
        with self._connections:
            self.connected_paths.append(path)
            self._connections.notify_all()
        async for raw in conn:
            frame = json.loads(raw)
            future = self._acks.pop(str(frame.get("headers", {}).get("messageId")), None)
            if future is not None and not future.done():
                future.set_result(frame)
        if self._conn is conn:
            self._connected.clear()

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` websocket connections have been accepted in total."""
        with self._connections:
            return self._connections.wait_for(lambda: len(self.connected_paths) >= count, timeout)

    # ------------------------------------------------------------------------------ pushing

    def push_callback(self, data: dict[str, Any], topic: str = "/v1.0/im/bot/messages/get",
                      timeout: float = 5.0) -> dict[str, Any]:
        """Deliver a CALLBACK frame and return the client's ACK."""
        return self._push({"specVersion": "1.0", "type": "CALLBACK",
                           "headers": self._headers(topic), "data": json.dumps(data, ensure_ascii=False)}, timeout)

    def push_event(self, event_type: str, data: dict[str, Any], event_id: str | None = None,
                   timeout: float = 5.0) -> dict[str, Any]:
        headers = self._headers("*") | {"eventType": event_type, "eventId": event_id or uuid.uuid4().hex,
                                        "eventBornTime": str(int(time.time() * 1000)),
                                        "eventCorpId": "dingcorp", "eventUnifiedAppId": "unified"}
        return self._push({"specVersion": "1.0", "type": "EVENT", "headers": headers,
                           "data": json.dumps(data, ensure_ascii=False)}, timeout)

    def push_system(self, topic: str = "ping", data: dict[str, Any] | None = None,
                    timeout: float = 5.0) -> dict[str, Any]:
        """A SYSTEM frame: `ping` (the client echoes the data) or `disconnect` (it must reconnect)."""
        return self._push({"specVersion": "1.0", "type": "SYSTEM", "headers": self._headers(topic),
                           "data": json.dumps(data or {})}, timeout)

    def _headers(self, topic: str) -> dict[str, str]:
        return {"appId": "app", "connectionId": "conn", "contentType": "application/json",
                "messageId": uuid.uuid4().hex, "time": str(int(time.time() * 1000)), "topic": topic}

    def _push(self, frame: dict[str, Any], timeout: float) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(self._send(frame, timeout), self._loop).result(timeout + 1)

    async def _send(self, frame: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._connected is not None
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self._conn is not None
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._acks[frame["headers"]["messageId"]] = future
        await self._conn.send(json.dumps(frame, ensure_ascii=False))
        return await asyncio.wait_for(future, timeout)
