"""Console login and logout: a node token exchanged for a session cookie.

The login form is protected against login CSRF by a double-submit value (a random value in a
``SameSite=Strict`` cookie and in the form) besides the same-origin check every console form
gets. A successful login always opens a new session (no fixation) and ends the one the
browser held before, if any.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from node.console.web import (
    COOKIE,
    console_blueprint,
    console_scope,
    current_user,
    render_page,
)
from node.services.console_sessions import ABSOLUTE_LIFETIME, ConsoleSessions

__all__ = ["LOGIN_COOKIE", "make_blueprint", "safe_next"]

#: The login form's double-submit cookie.
LOGIN_COOKIE = "__Host-trustlane-login"
_MAX_TOKEN_CHARS = 256


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path inside the console (never another site), else None."""
    if not value or len(value) > 2000 or not value.startswith("/console/"):
        return None
    if "\\" in value or "//" in value or any(ord(c) < 0x21 for c in value):
        return None
    return value


def make_blueprint(*, sessions: ConsoleSessions, clock: Callable[[], datetime]) -> Blueprint:
    """The ``/console/login`` and ``/console/logout`` blueprint."""
    bp = console_blueprint("console_auth", __name__, sessions=sessions, clock=clock)

    def _form(*, status: int = 200, error: str | None = None) -> Response:
        value = secrets.token_urlsafe(24)
        response = render_page(
            "console/login.html",
            status=status,
            error=error,
            login_value=value,
            next_path=safe_next(request.values.get("next")),
        )
        response.set_cookie(
            LOGIN_COOKIE, value, secure=True, httponly=True, samesite="Strict", path="/"
        )
        return response

    @bp.get("/login")
    @console_scope()
    def login() -> Response:
        # Also shown in a session: logging in again switches to another token's session.
        return _form()

    @bp.post("/login")
    @console_scope()
    def do_login() -> BaseResponse:
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        presented = request.form.get("login_value", "")
        if not cookie or not hmac.compare_digest(cookie, presented):
            return _form(status=400, error="The login form expired. Enter your token again below.")
        token = request.form.get("token", "")
        user = None
        if 0 < len(token) <= _MAX_TOKEN_CHARS:
            user = sessions.login(
                token, now=g.console_now, client=request.headers.get("User-Agent", "")
            )
        if user is None:
            return _form(
                status=401,
                error="That token is not valid on this node. Check that you copied all of it; "
                "the node's administrator can create one with `trustlane node token create`.",
            )
        if g.console_user is not None:
            sessions.logout(g.console_user, now=g.console_now)
        target = safe_next(request.form.get("next")) or url_for("console_overview.overview")
        response = redirect(target, 303)
        response.set_cookie(
            COOKIE,
            user.session_id,
            max_age=int(ABSOLUTE_LIFETIME.total_seconds()),
            secure=True,
            httponly=True,
            samesite="Strict",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, samesite="Strict")
        return response

    @bp.post("/logout")
    @console_scope("admin", "issuer", "registry-admin", "device-admin", "officer", "auditor")
    def logout() -> BaseResponse:
        sessions.logout(current_user(), now=g.console_now)
        response = redirect(url_for("console_auth.login"), 303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
        return response

    return bp
