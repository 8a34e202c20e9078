"""Board login through the platforms' own web login (no password, no link): WeCom OAuth
(connect/oauth2/authorize -> auth/getuserinfo) and DingTalk (login.dingtalk.com -> userAccessToken ->
contact/users/me -> topapi/user/getbyunionid). Each start sets a random `state` in the session that the
callback must return, so a forged callback (login CSRF) is refused."""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, request, session, url_for
from werkzeug.wrappers import Response

from bot.dingtalk_client import DingTalkClient
from bot.edge import state
from bot.wecom_client import WeComClient, WeComError
from storage import directory

log = logging.getLogger(__name__)
bp = Blueprint("board_oauth", __name__, url_prefix="/board/oauth")
WECOM_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
DINGTALK_AUTHORIZE = "https://login.dingtalk.com/oauth2/auth"


def start_session(user_id: str) -> Response:
    """Log `user_id` in (a fresh session and CSRF token) and open the page they asked for."""
    target = session.get("next")
    session.clear()
    session.permanent = True
    session["uid"] = user_id
    session["csrf"] = secrets.token_urlsafe(24)
    if isinstance(target, str) and target.startswith("/board/"):  # never an open redirect elsewhere
        return redirect(target)
    return redirect(url_for("board.approvals"))


def _begin(platform: str) -> str:
    if platform not in state().settings.enabled_platforms:
        abort(403, "这个平台的登录没有配置")
    wanted = request.args.get("next", "")
    session["next"] = wanted if wanted.startswith("/board/") else "/board/"
    session["oauth_state"] = nonce = secrets.token_urlsafe(16)
    return nonce


def _callback_url(endpoint: str) -> str:
    return state().settings.server.public_url.rstrip("/") + url_for(endpoint)


def _check_state() -> None:
    sent, kept = request.args.get("state", ""), session.pop("oauth_state", None)
    if not sent or not isinstance(kept, str) or not hmac.compare_digest(sent, kept):
        abort(403, "登录请求已失效，请重新打开看板链接")


def _login_member(platform: str, platform_user_id: str | None) -> Response:
    if not platform_user_id:
        abort(403, "平台没有确认你的身份")
    with state().runtime.factory() as db:
        user = directory.by_platform_id(db, platform, platform_user_id)
        if user is None or not user.active:
            abort(403, "你不在 salesbot 的通讯录中")
        return start_session(user.id)


@bp.get("/enter")
def enter() -> Response:
    """Where the report's links point: logged in already, the page; else the login of the platform the
    in-app browser belongs to (DingTalk or WeCom, by its user agent), else the first one configured."""
    wanted = request.args.get("next", "")
    target = wanted if wanted.startswith("/board/") else "/board/"
    if isinstance(session.get("uid"), str):
        return redirect(target)
    enabled = state().settings.enabled_platforms
    agent = request.headers.get("User-Agent", "")
    hinted = "dingtalk" if "DingTalk" in agent else "wecom" if "wxwork" in agent else None
    platform = hinted if hinted in enabled else next((p for p in enabled if p in ("dingtalk", "wecom")), None)
    if platform is None:
        abort(403, "请从聊天里发「看板」获取登录链接")
    return redirect(url_for(f"board_oauth.{platform}_start", next=target))


@bp.get("/wecom")
def wecom_start() -> Response:
    nonce = _begin("wecom")
    cfg = state().settings.wecom
    query = urlencode({"appid": cfg.corp_id, "redirect_uri": _callback_url("board_oauth.wecom_done"),
                       "response_type": "code", "scope": "snsapi_base", "state": nonce, "agentid": cfg.agent_id})
    return redirect(f"{WECOM_AUTHORIZE}?{query}#wechat_redirect")


@bp.get("/wecom/done")
def wecom_done() -> Response:
    _check_state()
    settings = state().settings
    try:
        found = WeComClient(settings.wecom, state().runtime.factory, clock=state().clock).get(
            "auth/getuserinfo", {"code": request.args.get("code", "")})
    except WeComError as exc:
        log.info("wecom login refused: %s", exc)
        abort(403, "企业微信没有确认你的身份，请重新打开看板链接")
    return _login_member("wecom", found.get("userid") or found.get("UserId"))


@bp.get("/dingtalk")
def dingtalk_start() -> Response:
    nonce = _begin("dingtalk")
    cfg = state().settings.dingtalk
    query = urlencode({"redirect_uri": _callback_url("board_oauth.dingtalk_done"), "response_type": "code",
                       "client_id": cfg.app_key, "scope": "openid", "state": nonce, "prompt": "consent"})
    return redirect(f"{DINGTALK_AUTHORIZE}?{query}")


@bp.get("/dingtalk/done")
def dingtalk_done() -> Response:
    _check_state()
    code = request.args.get("authCode") or request.args.get("code") or ""
    client = DingTalkClient(state().settings.dingtalk, state().runtime.factory)
    try:
        staff_id = client.login_staff_id(code, state().clock()) if code else None
    finally:
        client.close()
    return _login_member("dingtalk", staff_id)
