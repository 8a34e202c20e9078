"""The board's 商机漏斗 (/board/deals) and 线索 (/board/leads) pages.

Same login and scope as the rest of the board (bot/board.py): a rep sees their own opportunities and
leads, a manager everyone's below them, directors and admins everything; the scope is applied in every
query (handlers/health/deals.py, storage/report_deals.py). Someone else's opportunity, or another
team's page, is 403 with none of the data.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template, request

from bot import board
from bot.edge import state
from handlers.context import Context
from handlers.health import deals
from handlers.health.scope import may_see, team_ids
from handlers.opportunities.core import FIELD_NAMES, FLAG_NAMES, code_id
from storage import opportunities as opp_repo

bp = Blueprint("board_deals", __name__, url_prefix="/board")
LIST_LIMIT = 200  # opportunities a stage list shows (its count covers them all)
LEADS_LIMIT = 100  # waiting leads the 线索 page lists, longest first (the tiles count them all)
FLAG_CLASS = {"yellow": "c-yellow", "red": "c-red", None: "c-none"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


bp.teardown_request(board.close_page_db)  # the page's session is the board's: closed the same way


@bp.errorhandler(403)
def _forbidden(exc: Any) -> tuple[str, int]:
    return board.forbidden(exc)


def _people(viewer: board.Viewer) -> set[str] | None:
    """Whose records the page shows: the viewer's own scope, or (?team=ID) one team below them."""
    wanted = request.args.get("team")
    if not wanted:
        return viewer.people
    below = viewer.sees_all or wanted == viewer.user.id or (viewer.people is not None and wanted in viewer.people)
    team = team_ids(board.page_db(), wanted) if below else set()
    if not team:
        abort(403, "无权查看这个团队")
    return {wanted, *team}


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"flag_class": FLAG_CLASS, "flag_names": FLAG_NAMES, "field_names": FIELD_NAMES}


@bp.get("/deals")
def funnel() -> str:
    viewer = board.current_viewer()
    people = _people(viewer)
    db, settings, now = board.page_db(), state().settings, board.page_now()
    stage = request.args.get("stage") or None
    tiles = deals.funnel(db, settings, people, now)
    if stage is not None and stage not in {t.name for t in tiles}:
        abort(404)
    rows = deals.stage_list(db, settings, people, stage, now, LIST_LIMIT)
    chart = {"stages": [t.name for t in tiles], "counts": [t.count for t in tiles],
             "amounts": [float(t.amount) for t in tiles]}
    total = sum(t.count for t in tiles if stage is None or t.name == stage)
    return render_template("board/deals.html", viewer=viewer, tiles=tiles, rows=rows, stage=stage, chart=chart,
                           total=total, team=request.args.get("team"), page="deals")


@bp.get("/deals/<code>")
def deal(code: str) -> str:
    viewer = board.current_viewer()
    opp_id = code_id(code)
    opp = opp_repo.get(board.page_db(), opp_id) if opp_id else None
    if opp is None or not may_see(viewer.people, opp.owner_id):
        abort(403, "无权查看")  # the same answer whether it exists or not
    item = deals.deal_item(board.page_db(), state().settings, opp, board.page_now())
    return render_template("board/deal.html", viewer=viewer, item=item, now=board.page_now(), page="deals")


@bp.get("/leads")
def leads() -> str:
    viewer = board.current_viewer()
    people = _people(viewer)
    ctx = Context(board.page_db(), state().settings, board.page_now())
    view = deals.leads_view(ctx, people, LEADS_LIMIT)
    return render_template("board/leads.html", viewer=viewer, view=view, hours=ctx.settings.leads.first_contact_hours, page="leads")
