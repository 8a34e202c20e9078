"""The web board (/board): server-rendered pages of approvals, risks, to-dos and process health.

Login is a one-time signed link (`看板` in the chat, bot.board_links) that sets a session cookie. Every
page loads its panels through storage queries scoped to who is looking (handlers.health.scope): a rep
sees their own items, a manager everyone below them, directors and admins everything. Anything else —
no session, a tampered cookie, a replayed or expired link, someone else's team or item — is 403 with
no data; a user who left is logged out. The one state-changing form (logout) carries a CSRF token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from bot import board_oauth
from bot.board_links import LinkRefused, cookie_secret, read_token
from bot.board_session import BoardSessionInterface
from bot.edge import state
from handlers.health import metrics as m
from handlers.health import snapshots, weekly
from handlers.health.scope import direct_reports, managers, may_see, team_ids, teams, visible_people
from handlers.health.weeks import Week, week_of
from handlers.timefmt import duration, local_time
from storage import approvals as approvals_repo
from storage import board as board_repo
from storage import directory
from storage import report as q
from storage import todos as todos_repo
from storage.models import User

log = logging.getLogger(__name__)
bp = Blueprint("board", __name__, url_prefix="/board", template_folder="templates",
               static_folder="static", static_url_path="/static")
TREND_WEEKS = 12
# The trend chart's metrics: past weeks come from the tick's weekly snapshots (handlers.health.snapshots).
TREND_METRICS = ("approval_within_5wd_share", "todo_closed_by_due_share", "penetration_approval")
LIST_LIMIT = 200  # rows a list panel shows (its count covers them all)
KIND_NAMES = {"quote": "报价", "contract": "合同"}
SEVERITY_ORDER = ("critical", "high", "medium", "low")
SEVERITY_NAMES = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}


def init_app(app: Flask) -> None:
    """Mount the board; the cookie is HttpOnly, SameSite=Lax, and Secure when the public URL is https."""
    settings = app.extensions["salesbot"].settings
    app.secret_key = cookie_secret(settings)
    app.session_interface = BoardSessionInterface()  # webhooks open no session
    app.config.update(
        SESSION_COOKIE_NAME="salesbot_board", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server.public_url.startswith("https://"), SESSION_COOKIE_PATH="/board",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.board.session_hours),
    )
    app.register_blueprint(bp)
    app.register_blueprint(board_oauth.bp)


@dataclass
class Viewer:
    user: User
    people: set[str] | None  # None: everyone

    @property
    def sees_all(self) -> bool:
        return self.people is None


def _db() -> Session:
    if "board_session" not in g:
        g.board_session = state().runtime.factory()
    return g.board_session  # type: ignore[no-any-return]


@bp.teardown_request
def _close_db(_exc: BaseException | None) -> None:
    db = g.pop("board_session", None)
    if db is not None:
        db.rollback()
        db.close()


def _viewer() -> Viewer:
    """The logged-in user and who they may see; 403 without a valid session, logged out if they left."""
    uid = session.get("uid")
    if not isinstance(uid, str):
        abort(403, "请从聊天里发「看板」获取登录链接")
    user = directory.get_user(_db(), uid)
    if user is None or not user.active:
        session.clear()
        abort(403, "你已不在通讯录中")
    return Viewer(user, visible_people(_db(), user))


def _now() -> datetime:
    return state().clock()


def _csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": _csrf_token, "local_time": local_time, "duration": duration,
            "kind_names": KIND_NAMES, "severity_names": SEVERITY_NAMES}


@bp.errorhandler(403)
def _forbidden(exc: Any) -> tuple[str, int]:
    """A refusal shows why in Chinese and nothing else (no viewer, so no navigation or names)."""
    logins = [] if session.get("uid") else [
        (name, url_for(f"board_oauth.{platform}_start", next=request.path))
        for platform, name in (("dingtalk", "用钉钉登录"), ("wecom", "用企业微信登录"))
        if platform in state().settings.enabled_platforms]
    return render_template("board/error.html", message=getattr(exc, "description", "无权查看"), viewer=None,
                           logins=logins), 403


# --- login ---------------------------------------------------------------------------------------

@bp.get("/login/<token>")
def login(token: str) -> Response:
    """A one-time link from the chat: valid, fresh and unused sets the session; anything else is 403."""
    settings, now = state().settings, _now()
    try:
        user_id, nonce = read_token(settings, token, now)
    except LinkRefused as exc:
        log.info("board login refused: %s", exc)
        abort(403, "链接无效或已过期，请在聊天里重新发送「看板」")
    with state().runtime.factory() as db:
        user = directory.get_user(db, user_id)
        if user is None or not user.active:
            abort(403, "你已不在通讯录中")
        if not board_repo.use_login(db, nonce, user_id, now):
            db.rollback()
            abort(403, "链接已经用过，请在聊天里重新发送「看板」")
        db.commit()
    session.pop("next", None)  # a link opens the approvals page
    return board_oauth.start_session(user_id)


@bp.post("/logout")
def logout() -> Response:
    sent = request.form.get("csrf", "")
    if not hmac.compare_digest(sent, str(session.get("csrf", ""))) or not sent:
        abort(403, "表单已失效，请刷新页面")
    session.clear()
    return redirect(url_for("board.logged_out"))


@bp.get("/bye")
def logged_out() -> str:
    return render_template("board/bye.html")


# --- pages ---------------------------------------------------------------------------------------

@bp.get("/")
def approvals() -> str:
    viewer = _viewer()
    rows = [_approval_row(a, step, submitter, customer)
            for a, step, submitter, customer in q.open_approvals(_db(), viewer.people, LIST_LIMIT)]
    total = q.count_open_approvals(_db(), viewer.people)
    return render_template("board/approvals.html", viewer=viewer, rows=rows, total=total, page="approvals")


def _approval_row(approval: Any, step: Any, submitter: str, customer: str) -> dict[str, Any]:
    since = (step.started_at if step else None) or approval.created_at
    return {"approval": approval, "step": step, "submitter": submitter, "customer": customer,
            "holder": _holder(step), "waited": duration(_now() - since), "since": since}


def _names() -> dict[str, str]:
    """Every user's name, read once per request (a list of 200 approvals named each holder by a query)."""
    if "board_names" not in g:
        g.board_names = board_repo.user_names(_db())
    return g.board_names  # type: ignore[no-any-return]


def _teams() -> dict[str, set[str]]:
    """Everyone below each manager (scope.teams), read once per request."""
    if "board_teams" not in g:
        g.board_teams = teams(_db())
    return g.board_teams  # type: ignore[no-any-return]


def _holder(step: Any) -> str:
    if step is None:
        return "—"
    if step.approver_id:
        return _names().get(step.approver_id, step.approver_id)
    return f"角色：{step.approver_role or step.approver_spec}"


@bp.get("/approvals/<code>")
def approval(code: str) -> str:
    viewer = _viewer()
    found = approvals_repo.by_code(_db(), code)
    if found is None or not may_see(viewer.people, found.submitter_id):
        abort(403, "无权查看")  # the same answer whether it exists or not
    steps = [{"step": s, "holder": _holder(s),
              "held": duration((s.decided_at or _now()) - s.started_at) if s.started_at else "—"}
             for s in approvals_repo.steps_of(_db(), found.id)]
    submitter = directory.get_user(_db(), found.submitter_id)
    return render_template("board/approval.html", viewer=viewer, approval=found, steps=steps,
                           submitter=submitter.name if submitter else found.submitter_id, page="approvals")


@bp.get("/todos")
def todos() -> str:
    viewer = _viewer()
    names = board_repo.user_names(_db())
    rows = [{"todo": t, "owner": names.get(owner or "", owner), "customer": customer,
             "late": duration(_now() - t.due_at)}
            for owner, t, customer in q.todos_overdue(_db(), viewer.people, _now(), LIST_LIMIT)]
    total = q.count_overdue(_db(), viewer.people, _now())
    return render_template("board/todos.html", viewer=viewer, rows=rows, total=total, page="todos")


@bp.get("/todos/<code>")
def todo(code: str) -> str:
    viewer = _viewer()
    found = todos_repo.get(_db(), int(code[1:])) if code[:1] in "Tt" and code[1:].isdigit() else None
    if found is None or found.owner_id is None or not may_see(viewer.people, found.owner_id):
        abort(403, "无权查看")
    owner = directory.get_user(_db(), found.owner_id)
    return render_template("board/todo.html", viewer=viewer, todo=found, owner=owner.name if owner else "—",
                           page="todos")


@bp.get("/risks")
def risks() -> str:
    viewer = _viewer()
    week = week_of(_now(), _now())
    rows = q.risks(_db(), viewer.people, week.start, week.as_of, LIST_LIMIT)
    counts = {sev: 0 for sev in SEVERITY_ORDER}
    counts.update({str(sev): int(n) for sev, n in q.open_risks_by_severity(_db(), viewer.people)})
    return render_template("board/risks.html", viewer=viewer, rows=rows, counts=counts, page="risks")


@bp.get("/health")
def health() -> str | Response:
    """The viewer's own scope: the company for directors and admins, a manager's team, a rep's own."""
    viewer = _viewer()
    if viewer.sees_all:
        return _health_page(viewer, None, "全公司", [(u, f"{u.name}团队", "team") for u in managers(_db())])
    if team_ids(_db(), viewer.user.id):
        return redirect(url_for("board.team", manager_id=viewer.user.id))
    return redirect(url_for("board.rep", user_id=viewer.user.id))


@bp.get("/health/team/<manager_id>")
def team(manager_id: str) -> str:
    viewer = _viewer()
    manager = directory.get_user(_db(), manager_id)
    below = viewer.sees_all or manager_id == viewer.user.id or (viewer.people is not None and manager_id in viewer.people)
    if manager is None or not below or not team_ids(_db(), manager_id):
        abort(403, "无权查看这个团队")
    under = _teams()
    children = [(u, u.name, "team" if under.get(u.id) else "rep") for u in direct_reports(_db(), manager_id)]
    return _health_page(viewer, manager, f"{manager.name}团队", children)


@bp.get("/health/rep/<user_id>")
def rep(user_id: str) -> str:
    viewer = _viewer()
    person = directory.get_user(_db(), user_id)
    if person is None or not may_see(viewer.people, user_id):
        abort(403, "无权查看")
    now = _now()
    items = {
        "approvals": [_approval_row(*row) for row in q.open_approvals(_db(), {user_id})],
        "todos": [{"todo": t, "customer": c, "late": duration(now - t.due_at)}
                  for _, t, c in q.todos_overdue(_db(), {user_id}, now)],
    }
    return _health_page(viewer, person, person.name, [], people={user_id}, items=items)


def _health_page(viewer: Viewer, who: User | None, title: str, children: list[tuple[User, str, str]],
                 people: set[str] | None = None, items: dict[str, Any] | None = None) -> str:
    db, settings, now = _db(), state().settings, _now()
    scope = people if people is not None else weekly.people_of(db, who)
    weeks = list(_trend_weeks(week_of(now, now)))
    this_week = m.compute_all(m.Query(db, scope, weeks[-1], settings))
    by_week = list(zip(weeks[:-1], snapshots.samples_by_week(db, settings, scope, weeks[:-1], TREND_METRICS),
                       strict=True))
    by_week.append((weeks[-1], this_week))
    figures = m.figures(this_week, scope, settings)
    rows, below = [], _teams() if children else {}
    key_samples = {key: this_week.get(key) for key in TREND_METRICS}  # the drill-down table shows these
    for user, label, kind in children:
        group = {user.id} if kind == "rep" else {user.id, *below.get(user.id, ())}
        rows.append({"user": user, "label": label, "kind": kind,
                     "figures": {f.metric.key: f for f in m.figures(key_samples, group, settings)}})
    trend = {"weeks": [w.label for w in weeks], "series": [
        {"name": m.BY_KEY[key].name, "data": [_rounded(samples, scope, key) for _, samples in by_week]}
        for key in TREND_METRICS]}
    return render_template("board/health.html", viewer=viewer, title=title, figures=figures, rows=rows,
                           trend=trend, key_metrics=TREND_METRICS, items=items, week=weeks[-1], page="health")


def _trend_weeks(current: Week) -> Iterator[Week]:
    for back in range(TREND_WEEKS - 1, 0, -1):
        yield current.previous(back)
    yield current


def _rounded(samples: dict[str, m.Samples | None], scope: set[str] | None, key: str) -> float | None:
    found = samples.get(key)
    value = found.value_for(scope)[0] if found is not None else None
    return None if value is None else round(value, 4)


# --- for the board's other page modules (bot/board_deals.py registers its own blueprint under /board) ---
current_viewer = _viewer
page_db = _db
close_page_db = _close_db
page_now = _now
forbidden = _forbidden
