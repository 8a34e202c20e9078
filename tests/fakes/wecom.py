"""A fake WeCom API over real HTTP on 127.0.0.1 (port 0), recording every request.

Answers gettoken, message/send, message/update_template_card, externalcontact/get and the customer
hand-over APIs ((resigned/)transfer_customer, groupchat/(onjob_)transfer, the transfer results), and can be
scripted (a slow answer still keeps the message, as WeCom does after a client timeout): an errcode N times
(45009, 45033, -1 ...), tokens revoked (42001), the host "down" (503,
or connection refused), or slow. Tests point `[wecom] api_base` at `server.api_base`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PREFIX = "/cgi-bin/"


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str  # relative to /cgi-bin/, e.g. "message/send"
    query: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Script:
    user: str | None = None  # only calls for this touser / userids
    errcode: int | None = None
    status: int = 200
    delay: float = 0.0
    times: int = 1


@dataclass
class FakeWeComServer:
    """WeCom's qyapi host: token issuing and the few APIs salesbot calls."""

    corp_id: str = "wwfakecorp"
    secrets: tuple[str, ...] = ("fake-app-secret", "fake-contact-secret")
    token_ttl: int = 7200
    contacts: dict[str, Any] = field(default_factory=dict)
    # customer hand-over: errcode per external id / chat id when starting, status per external id after
    transfer_errors: dict[str, int] = field(default_factory=dict)
    transfer_status: dict[str, int] = field(default_factory=dict)
    # the org directory: departments [{id, parentid}], members [{userid, name, department, direct_leader, status}]
    departments: list[dict[str, Any]] = field(default_factory=lambda: [{"id": 1, "parentid": 0, "name": "公司"}])
    members: list[dict[str, Any]] = field(default_factory=list)
    invalid_users: set[str] = field(default_factory=set)
    login_codes: dict[str, str] = field(default_factory=dict)  # OAuth: one-time code -> member userid
    requests: list[Recorded] = field(default_factory=list)
    # What reached people's phones: like WeCom, a message/send with enable_duplicate_check=1 identical
    # to one delivered within duplicate_check_interval seconds (default 1800) is answered ok, not shown.
    delivered: list[dict[str, Any]] = field(default_factory=list)
    _delivered_at: dict[str, float] = field(default_factory=dict)
    _outcomes: list[bool] = field(default_factory=list)  # per request: answered errcode 0
    _tokens: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    _scripts: dict[str, list[_Script]] = field(default_factory=dict)
    _down: str | None = None
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _port: int = 0

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeWeComServer:
        self._httpd = _Server(("127.0.0.1", self._port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeWeComServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}{PREFIX}"

    # ------------------------------------------------------------------------------ scripting

    def fail(self, path: str, errcode: int, times: int = 1, user: str | None = None) -> None:
        """Answer `path` with this errcode the next `times` calls (only those for `user`, if given)."""
        with self._lock:
            self._scripts.setdefault(path, []).append(_Script(user=user, errcode=errcode, times=times))

    def slow(self, path: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._scripts.setdefault(path, []).append(_Script(delay=seconds, times=times))

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 42001 (expired) from now on."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, False)

    def go_down(self, how: str = "503") -> None:
        """'503': answer every request with HTTP 503; 'refused': stop listening."""
        self._down = how
        if how == "refused":
            self.stop()

    def come_back(self) -> None:
        if self._down == "refused":
            self.start()  # same port
        self._down = None

    # ------------------------------------------------------------------------------ inspection

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def sent(self) -> list[dict[str, Any]]:
        """Bodies of every message/send that was accepted (errcode 0)."""
        with self._lock:
            pairs = list(zip(self.requests, self._outcomes, strict=True))
        return [r.json for r, ok in pairs if r.path == "message/send" and ok]

    def sent_texts(self) -> list[str]:
        """What each accepted message shows, flattened to text (title + body) for assertions."""
        return [message_text(body) for body in self.sent()]

    # ------------------------------------------------------------------------------ answering

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(Recorded(method, path, query, body))
            index = len(self._outcomes)
            self._outcomes.append(False)
            script = self._next_script(path, body)
        if script and script.delay:
            time.sleep(script.delay)
        if self._down == "503":
            return 503, {}
        if script and script.status != 200:
            return script.status, {}
        if script and script.errcode is not None:
            return 200, {"errcode": script.errcode, "errmsg": f"scripted {script.errcode}"}
        status, data = self._route(method, path, query, body)
        with self._lock:
            self._outcomes[index] = status == 200 and data.get("errcode") == 0
        return status, data

    def _next_script(self, path: str, body: bytes) -> _Script | None:
        queue = self._scripts.get(path) or []
        script = next((s for s in queue if s.user is None or s.user in _users_of(body)), None)
        if script is None:
            return None
        script.times -= 1
        if script.times <= 0:
            queue.remove(script)
        return script

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "gettoken":
            return 200, self._gettoken(query)
        with self._lock:
            valid = self._tokens.get(query.get("access_token", ""))
        if valid is None:
            return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
        if valid is False:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        handler = {"message/send": self._send, "message/update_template_card": self._update,
                   "externalcontact/get": self._contact,
                   "externalcontact/resigned/transfer_customer": self._transfer,
                   "externalcontact/transfer_customer": self._transfer,
                   "externalcontact/groupchat/transfer": self._group_transfer,
                   "externalcontact/groupchat/onjob_transfer": self._group_transfer,
                   "externalcontact/resigned/transfer_result": self._transfer_result,
                   "externalcontact/transfer_result": self._transfer_result,
                   "department/list": self._department_list, "user/list": self._user_list,
                   "auth/getuserinfo": self._getuserinfo}.get(path)
        if handler is None:
            return 404, {"errcode": 404, "errmsg": "no such api in the fake"}
        return 200, handler(query, json.loads(body) if body else {})

    def authorize(self, userid: str) -> str:
        """What WeCom's OAuth page does for a member: a one-time code for the redirect."""
        code = f"wecom-code-{next(self._counter)}"
        with self._lock:
            self.login_codes[code] = userid
        return code

    def _getuserinfo(self, query: dict[str, str], _data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            userid = self.login_codes.pop(query.get("code", ""), None)  # a code works once
        if userid is None:
            return {"errcode": 40029, "errmsg": "invalid code"}
        return {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": "t"}

    def _gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id or query.get("corpsecret") not in self.secrets:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        token = f"TOKEN-{next(self._counter)}"
        with self._lock:
            self._tokens[token] = True
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def _send(self, _query: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
        if data.get("touser") in self.invalid_users:
            return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
        n = next(self._counter)
        out = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": f"msg-{n}"}
        self._deliver(data)
        if data.get("msgtype") == "template_card":
            out["response_code"] = f"rc-{n}"
        return out

    def _deliver(self, data: dict[str, Any]) -> None:
        key = json.dumps(data, sort_keys=True, ensure_ascii=False)
        now = time.monotonic()
        with self._lock:
            last = self._delivered_at.get(key)
            window = float(data.get("duplicate_check_interval") or 1800)
            if data.get("enable_duplicate_check") == 1 and last is not None and now - last < window:
                return
            self._delivered_at[key] = now
            self.delivered.append(data)

    def _update(self, _query: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
        if not str(data.get("response_code", "")).startswith("rc-"):
            return {"errcode": 40136, "errmsg": "invalid response_code"}
        return {"errcode": 0, "errmsg": "ok", "invaliduser": []}

    def _contact(self, query: dict[str, str], _data: dict[str, Any]) -> dict[str, Any]:
        """A contact is one response body, or a list of pages (follow_user paged by `cursor`)."""
        found = self.contacts.get(query.get("external_userid", ""))
        if found is None:
            return {"errcode": 84061, "errmsg": "not external contact"}
        if isinstance(found, dict):
            return {"errcode": 0, "errmsg": "ok", **found}
        page = int(query.get("cursor") or 0)
        more = {"next_cursor": str(page + 1)} if page + 1 < len(found) else {}
        return {"errcode": 0, "errmsg": "ok", **found[page], **more}

    def _department_list(self, _query: dict[str, str], _data: dict[str, Any]) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", "department": self.departments}

    def _user_list(self, query: dict[str, str], _data: dict[str, Any]) -> dict[str, Any]:
        dept = int(query.get("department_id") or 0)
        found = [m for m in self.members if dept in (m.get("department") or [1])]
        return {"errcode": 0, "errmsg": "ok", "userlist": found}

    def _transfer(self, _query: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
        ids = data.get("external_userid") or []
        if not data.get("handover_userid") or not data.get("takeover_userid") or not 1 <= len(ids) <= 100:
            return {"errcode": 40058, "errmsg": "invalid parameter"}
        return {"errcode": 0, "errmsg": "ok",
                "customer": [{"external_userid": e, "errcode": self.transfer_errors.get(e, 0)} for e in ids]}

    def _group_transfer(self, _query: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
        chats = data.get("chat_id_list") or []
        if not data.get("new_owner") or not 1 <= len(chats) <= 100:
            return {"errcode": 40058, "errmsg": "invalid parameter"}
        failed = [{"chat_id": c, "errcode": self.transfer_errors[c], "errmsg": "scripted"}
                  for c in chats if c in self.transfer_errors]
        return {"errcode": 0, "errmsg": "ok", "failed_chat_list": failed}

    def _transfer_result(self, _query: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
        started = [r.json for r in self.requests if r.path.endswith("transfer_customer") and r.json
                   and r.json.get("handover_userid") == data.get("handover_userid")
                   and r.json.get("takeover_userid") == data.get("takeover_userid")]
        ids = dict.fromkeys(e for body in started for e in body.get("external_userid") or [])
        return {"errcode": 0, "errmsg": "ok", "next_cursor": "",
                "customer": [{"external_userid": e, "status": self.transfer_status.get(e, 2)} for e in ids]}


def _users_of(body: bytes) -> set[str]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return set()
    return {*str(data.get("touser", "")).split("|"), *data.get("userids", [])}


def message_text(body: dict[str, Any]) -> str:
    """A message/send or update body flattened to the text a user would read."""
    kind = body.get("msgtype")
    if kind == "markdown":
        return body["markdown"]["content"]
    if kind == "textcard":
        return body["textcard"]["title"] + "\n" + body["textcard"]["description"]
    card = body.get("template_card") or {}
    parts = [card.get("main_title", {}).get("title", ""), card.get("sub_title_text", "")]
    parts += [f"{h['keyname']}：{h['value']}" for h in card.get("horizontal_content_list", [])]
    parts += [f"[{b['text']}]" for b in card.get("button_list", [])]
    return "\n".join(p for p in parts if p)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is not an error worth a traceback."""


def _handler_for(fake: FakeWeComServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            if fake._down == "refused":  # a kept-alive connection outlives the listener: drop it too
                self.close_connection = True
                return
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else url.path
            status, data = fake.answer(self.command, path, dict(parse_qsl(url.query)), body)
            payload = json.dumps(data, ensure_ascii=False).encode() if status == 200 or data else b"down"
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *_args: object) -> None:
            return None

    return Handler
