"""The console's overview page: the node at a glance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g

from node.console.web import console_blueprint, console_scope, render_page
from node.services.console_overview import ConsoleOverview
from node.services.console_sessions import ConsoleSessions

__all__ = ["make_blueprint"]


def make_blueprint(
    *, sessions: ConsoleSessions, figures: ConsoleOverview, clock: Callable[[], datetime]
) -> Blueprint:
    """The ``/console/`` blueprint."""
    bp = console_blueprint("console_overview", __name__, sessions=sessions, clock=clock)

    @bp.get("/")
    @console_scope("officer", "auditor", "issuer", "registry-admin", "device-admin")
    def overview() -> Response:
        return render_page("console/overview.html", o=figures.gather(g.console_now))

    return bp
