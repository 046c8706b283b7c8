"""The officer console: server-rendered pages for customs officers, issuers and auditors.

It sits on the same services and scopes as the API (see docs/console.md). Each page module
builds one blueprint under ``/console``; :func:`console_blueprints` composes them.
"""

from __future__ import annotations

from flask import Blueprint

from node.console import auth, overview, static
from node.services.console_overview import ConsoleOverview
from node.services.console_sessions import ConsoleSessions
from node.wiring import NodeServices

__all__ = ["CONSOLE", "console_blueprints"]

#: Every console blueprint's name starts with this.
CONSOLE = "console_"


def console_blueprints(services: NodeServices) -> list[Blueprint]:
    """Every console blueprint, wired to ``services``."""
    clock = services.clock
    sessions = ConsoleSessions(services.db, services.authenticator)
    gather = ConsoleOverview(
        db=services.db,
        peers=services.peers,
        agreements=services.agreements,
        devices=services.devices,
        witness=services.witness,
        risk=services.risk,
    )
    return [
        static.make_blueprint(),
        auth.make_blueprint(sessions=sessions, clock=clock),
        overview.make_blueprint(sessions=sessions, figures=gather, clock=clock),
    ]
