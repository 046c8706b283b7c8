"""What every officer console blueprint shares: the session, scopes, CSRF, headers, errors.

Each console page module builds its blueprint with :func:`console_blueprint`, which

- resolves the session cookie before every request (``g.console_user``, None when logged
  out) and sends a logged-out browser to the login page;
- refuses every state-changing request whose ``Origin`` (or, without one, ``Referer``) is not
  this node, and, in a session, whose form lacks the session's CSRF token;
- adds the security headers (a strict Content Security Policy: no inline script or style, no
  framing) to every answer;
- renders errors as HTML pages that say what to do next, never a traceback.

Views state the scopes they need with :func:`console_scope` (the same scopes as the API; a
token with ``admin`` may do everything). The authorisation test reads them from the views.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from credentials.errors import TrustlaneError
from node.api.errors import status_of
from node.services.console_sessions import ConsoleSessions, ConsoleUser, csrf_token, csrf_valid
from node.services.tokens import has_scope

__all__ = [
    "COOKIE",
    "NAVIGATION",
    "ConsoleError",
    "console_blueprint",
    "console_scope",
    "current_user",
    "render_page",
]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("trustlane.console")

#: The session cookie. ``__Host-``: the browser accepts it only with Secure, Path=/ and no
#: Domain, so a sibling host cannot plant or read it.
COOKIE = "__Host-trustlane-console"

#: The console's pages in navigation order: (endpoint, label, scopes that may open it).
#: Entries whose endpoint this build does not serve are left out of the menu.
NAVIGATION: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("console_overview.overview", "Overview", ("officer", "auditor", "issuer", "registry-admin")),
    ("console_credentials.list_credentials", "Credentials", ("issuer", "officer", "auditor")),
    ("console_offers.offers", "Offers", ("issuer",)),
    ("console_import.import_form", "Register import", ("issuer",)),
    ("console_devices.devices", "Devices", ("device-admin", "auditor")),
    ("console_agreements.agreements", "Agreements", ("registry-admin", "officer", "auditor")),
    ("console_risk.decisions", "Risk decisions", ("officer", "auditor")),
    ("console_audit.audit_form", "Audit a bundle", ("officer", "auditor")),
    ("console_plots.plots", "Plots", ("officer", "auditor", "registry-admin")),
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsoleError(Exception):
    """An error page: status, a title, and what the user should do next."""

    def __init__(self, status: int, title: str, next_step: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.next_step = next_step


def current_user() -> ConsoleUser:
    """The logged-in user of this request (the blueprint guard ensured there is one)."""
    user: ConsoleUser | None = g.get("console_user")
    if user is None:
        raise ConsoleError(401, "You are not logged in.", "Log in with your node token.")
    return user


def console_scope(*scopes: str) -> Callable[[F], F]:
    """Decorator: the logged-in token needs one of ``scopes`` (or ``admin``); () = public."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if scopes and not has_scope(current_user().token, *scopes):
                raise ConsoleError(
                    403,
                    "Your token does not allow this page or action.",
                    f"It needs one of the scopes {', '.join(scopes)}. Ask your node "
                    "administrator for a token with that scope, then log in again.",
                )
            return view(*args, **kwargs)

        wrapper.console_scopes = scopes  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def csrf_field() -> Markup:
    """The hidden CSRF input of a form in the current session."""
    user: ConsoleUser | None = g.get("console_user")
    if user is None:
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        csrf_token(user.session_id)
    )


def same_origin() -> bool:
    """True when the request's Origin (or Referer) is this node's own origin."""
    own = urlsplit(request.host_url)
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def render_page(template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a console template as an HTML answer."""
    response = make_response(render_template(template, **context), status)
    response.mimetype = "text/html"
    return response


def _navigation(user: ConsoleUser | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    served = current_app.view_functions
    return [
        (url_for(endpoint), label)
        for endpoint, label, scopes in NAVIGATION
        if endpoint in served and has_scope(user.token, *scopes)
    ]


def _error_page(status: int, title: str, next_step: str) -> Response:
    return render_page("console/error.html", status=status, title=title, next_step=next_step)


def console_blueprint(
    name: str, import_name: str, *, sessions: ConsoleSessions, clock: Callable[[], datetime]
) -> Blueprint:
    """A console blueprint under ``/console`` with the shared guard, headers and errors."""
    bp = Blueprint(name, import_name, url_prefix="/console", template_folder="templates")

    @bp.before_request
    def _guard() -> BaseResponse | None:
        now = clock()
        g.console_now = now
        g.console_user = sessions.resolve(request.cookies.get(COOKIE, ""), now=now)
        view = current_app.view_functions.get(request.endpoint or "")
        public = getattr(view, "console_scopes", None) == ()
        if request.method not in _SAFE_METHODS:
            if not same_origin():
                raise ConsoleError(
                    403,
                    "This form was not sent from this node's console.",
                    "Open the console page again and submit the form from there.",
                )
            if g.console_user is not None and not csrf_valid(
                g.console_user.session_id, request.form.get("csrf_token")
            ):
                raise ConsoleError(
                    400,
                    "The form's security token is missing or out of date.",
                    "Reload the page and submit the form again.",
                )
        if g.console_user is None and not public:
            if request.method in _SAFE_METHODS:
                return redirect(url_for("console_auth.login", next=request.full_path), 303)
            raise ConsoleError(
                401, "Your session has ended.", "Log in again, then repeat the action."
            )
        return None

    @bp.app_template_global("csrf_field")
    def _csrf_field() -> Markup:
        return csrf_field()

    @bp.context_processor
    def _context() -> dict[str, Any]:
        user: ConsoleUser | None = g.get("console_user")
        return {
            "user": user,
            "navigation": _navigation(user),
            "now": g.get("console_now"),
            "has_page": lambda endpoint: endpoint in current_app.view_functions,
        }

    @bp.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["Cache-Control"] = "no-store"
        if request.is_secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @bp.errorhandler(ConsoleError)
    def _console_error(error: ConsoleError) -> Response:
        return _error_page(error.status, error.title, error.next_step)

    @bp.errorhandler(TrustlaneError)
    def _refused(error: TrustlaneError) -> Response:
        status = status_of(error)
        if status >= 500:
            log.error("console: service unavailable: %s", error.diagnostics())
            return _error_page(
                503,
                "The node cannot do this right now.",
                "Try again in a minute; if it persists, tell the node's operator.",
            )
        return _error_page(status, error.message, "Check the details, correct them and try again.")

    @bp.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return _http(error)
        log.exception("console: unexpected error")
        return _error_page(
            500,
            "Something went wrong on the node.",
            "Nothing is shown here on purpose; the node's log has the details. "
            "Tell the node's operator the time it happened.",
        )

    @bp.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 400
        return _error_page(status, str(escape(error.name)), "Go back and try again.")

    return bp
