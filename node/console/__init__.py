"""The officer console: server-rendered pages for customs officers, issuers and auditors.

It sits on the same services and scopes as the API (see docs/console.md). Each page module
builds one blueprint under ``/console``; :func:`console_blueprints` composes them.
"""

from __future__ import annotations

from flask import Blueprint

from node.console import (
    agreements,
    audit,
    auth,
    devices,
    offers,
    overview,
    plots,
    register_import,
    risk,
    static,
)
from node.console import credentials as credential_pages
from node.services.console_credentials import ConsoleCredentials
from node.services.console_overview import ConsoleOverview
from node.services.console_registry import ConsoleRegistry
from node.services.console_risk import ConsoleRisk
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
        *_issuing_blueprints(services, sessions),
        *_registry_blueprints(services, sessions),
        *_risk_blueprints(services, sessions),
    ]


def _registry_blueprints(services: NodeServices, sessions: ConsoleSessions) -> list[Blueprint]:
    """The device and agreement pages."""
    views = ConsoleRegistry(
        devices=services.devices,
        status=services.status,
        agreements=services.agreements,
        peers=services.peers,
        own_did=services.identity.did,
    )
    return [
        devices.make_blueprint(
            sessions=sessions, devices=services.devices, views=views, clock=services.clock
        ),
        agreements.make_blueprint(
            sessions=sessions,
            db=services.db,
            identity=services.identity,
            peers=services.peers,
            deliver=services.push.deliver_document,
            views=views,
            clock=services.clock,
        ),
    ]


def _risk_blueprints(services: NodeServices, sessions: ConsoleSessions) -> list[Blueprint]:
    """The risk decision, audit and plots pages."""
    read = ConsoleRisk(
        db=services.db, risk=services.risk, peers=services.peers, agreements=services.agreements
    )
    clock = services.clock
    return [
        risk.make_blueprint(sessions=sessions, read=read, clock=clock),
        audit.make_blueprint(sessions=sessions, verifier=services.attestations, clock=clock),
        plots.make_blueprint(sessions=sessions, read=read, clock=clock),
    ]


def _issuing_blueprints(services: NodeServices, sessions: ConsoleSessions) -> list[Blueprint]:
    """The credential, offer and register import pages."""
    clock = services.clock
    return [
        credential_pages.make_blueprint(
            sessions=sessions,
            reader=ConsoleCredentials(services.db),
            issuance=services.issuance,
            status_service=services.status,
            clock=clock,
        ),
        offers.make_blueprint(sessions=sessions, offer_service=services.offers, clock=clock),
        register_import.make_blueprint(
            sessions=sessions,
            issuance=services.issuance,
            db=services.db,
            max_bytes=services.settings.max_request_bytes,
            clock=clock,
        ),
    ]
