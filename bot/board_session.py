"""The board's cookie session, opened only where its cookie is sent (SESSION_COOKIE_PATH, /board)."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class BoardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, but requests outside the cookie's path get the null session.

    Browsers send the board's cookie under /board only, so elsewhere there is nothing to read; Flask
    would still build the signing serializer for every request (a fifth of an empty view's time, paid
    by every webhook)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        path = self.get_cookie_path(app)
        if request.path != path.rstrip("/") and not request.path.startswith(path.rstrip("/") + "/"):
            return None  # Flask answers with make_null_session: reading works, writing raises
        return super().open_session(app, request)
