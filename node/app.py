"""The Flask application factory.

``create_app(services)`` takes wired services explicitly (tests build them with a factory);
``create_app_from_environment()`` is what ``trustlane node serve`` hands to gunicorn.
Every endpoint needs a bearer token except the explicit allowlist of public endpoints.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, Response, request

from federation_config.loader import load
from node import logs
from node.api import (
    aeo,
    attestations,
    challenges,
    credentials,
    devices,
    federation,
    health,
    identifiers,
    identity,
    log,
    metrics,
    mras,
    offers,
    oid4vci,
    presentations,
    registry,
    risk,
    scans,
    status_lists,
    witness,
)
from node.api.common import MAX_REQUEST_BYTES, RECEIVED_AT, authenticate, received_at
from node.api.errors import register_error_handlers
from node.api.request_metrics import RequestMetrics
from node.console import CONSOLE, console_blueprints
from node.federation.scheduler import start_scheduler
from node.services.readiness import SchedulerProbe
from node.wiring import NodeServices, build_services

__all__ = [
    "PUBLIC_ENDPOINTS",
    "SERVICES",
    "close_app",
    "create_app",
    "create_app_from_environment",
]

#: ``app.extensions`` key of the node's services (what :func:`close_app` closes).
SERVICES = "trustlane-services"

# Endpoints that need no token. Everything else requires a bearer token, and each protected
# view also states the scopes it needs.
PUBLIC_ENDPOINTS = frozenset(
    {
        "identity.did_document",
        "identity.aeo_context_document",
        "identity.mra_context_document",
        "status_lists.get_status_list",
        "status_lists.list_status_lists",
        "health.health",
        "health.live",
        "health.openapi",
        # Authenticated by its RFC 9421 signature instead of a bearer token.
        "federation.receive_event",
        "federation.receive_agreement_document",
        "federation.agreement_state",
        # The transparency log is public (C2SP tlog-tiles).
        "log.checkpoint",
        "log.tile",
        "log.inclusion",
        "log.consistency",
        # Authenticated by the device's proof on the attestation instead of a bearer token.
        "scans.submit_scan",
        # Authenticated by the partner log's signature on the checkpoint (C2SP tlog-witness).
        "witness.add_checkpoint",
        # The trader's wallet (OpenID4VCI 1.0) holds no node token: the metadata is public,
        # the token endpoint authenticates with the pre-authorised code and its transaction
        # code, the credential endpoint with the access token it issued and the holder's
        # proof over a nonce from the (public) nonce endpoint.
        "oid4vci.issuer_metadata",
        "oid4vci.authorization_server_metadata",
        "oid4vci.token",
        "oid4vci.nonce",
        "oid4vci.credential",
    }
)


def create_app(services: NodeServices, *, testing: bool = False, start_jobs: bool = False) -> Flask:
    """Build the app around ``services``; ``start_jobs`` starts the federation sync job."""
    # No static folder: Flask's default ``/static/<path>`` route would serve ``cwd/static``.
    app = Flask("trustlane", static_folder=None)
    app.config.update(
        TESTING=testing,
        # One byte more than the limit, so that json_body() can tell "too large" from "exactly
        # the limit" also for chunked bodies, which werkzeug cuts at MAX_CONTENT_LENGTH.
        MAX_CONTENT_LENGTH=services.settings.max_request_bytes + 1,
        JSON_SORT_KEYS=False,
    )
    app.config[MAX_REQUEST_BYTES] = services.settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # The composition root: each blueprint gets the services it uses, nothing more.
    clock = services.clock
    request_metrics = RequestMetrics()
    # First of all hooks: every answer is counted, whichever later hook answers.
    request_metrics.install(app)
    blueprints = (
        identity.make_blueprint(identity=services.identity),
        status_lists.make_blueprint(
            status_service=services.status,
            cache_seconds=services.settings.status_list_cache_seconds,
            clock=clock,
        ),
        credentials.make_blueprint(
            issuance=services.issuance,
            verification=services.verification,
            status_service=services.status,
            clock=clock,
        ),
        aeo.make_blueprint(issuance=services.issuance, clock=clock),
        challenges.make_blueprint(challenges=services.challenges, clock=clock),
        presentations.make_blueprint(presentations=services.presentations, clock=clock),
        health.make_blueprint(
            db=services.db,
            identity=services.identity,
            sync=services.federation.sync,
            split_views=services.witness.alert_count,
            key_rotation=lambda: services.rotation.health(clock()),
        ),
        registry.make_blueprint(
            peers=services.peers,
            sync=services.sync,
            agreements=services.agreements,
            cosigning=services.cosigning,
            clock=clock,
        ),
        mras.make_blueprint(agreements=services.agreements, clock=clock),
        federation.make_blueprint(push=services.push, agreements=services.agreements),
        metrics.make_blueprint(
            peers=services.peers,
            witness=services.witness,
            rotation=services.rotation,
            requests=request_metrics,
        ),
        log.make_blueprint(log=services.log, clock=clock),
        devices.make_blueprint(devices=services.devices, clock=clock),
        scans.make_blueprint(scans=services.scans, clock=clock),
        attestations.make_blueprint(verifier=services.attestations, clock=clock),
        witness.make_blueprint(witness=services.witness),
        offers.make_blueprint(offers=services.offers, clock=clock),
        oid4vci.make_blueprint(offers=services.offers, clock=clock),
        risk.make_blueprint(risk=services.risk, clock=clock),
        identifiers.make_blueprint(identifiers=services.identifiers, clock=clock),
    )
    for blueprint in (*blueprints, *console_blueprints(services)):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    authenticator = services.authenticator

    @app.before_request
    def _request_id() -> None:
        # First after the metrics' start, so that every answer and log line has it.
        logs.request_id()

    @app.before_request
    def _guard() -> None:
        # Unknown routes fall through to the 404 handler without asking for a token.
        endpoint = request.endpoint
        if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
            return
        # The officer console authenticates by its session cookie (node/console/web.py).
        # The blueprint as Flask's request.blueprint names it, from the endpoint read once.
        blueprint, dot, _ = endpoint.rpartition(".")
        if dot and blueprint.startswith(CONSOLE):
            return
        fresh_since = received_at()
        if fresh_since is None:
            # Not stamped by `node serve` (the test client, another WSGI server): now is
            # after the request arrived too, and the route then shares the token check's
            # generation read instead of reading again.
            fresh_since = time.monotonic()
            request.environ[RECEIVED_AT] = fresh_since
        authenticate(lambda token: authenticator(token, fresh_since=fresh_since))

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers[logs.REQUEST_ID_HEADER] = logs.request_id()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.extensions[SERVICES] = services
    if start_jobs and not testing:
        sync = services.federation.sync
        scheduler = start_scheduler(
            services.db,
            services.sync,
            agreements=services.agreements,
            cosigning=services.cosigning,
            rotation=services.rotation,
            interval_seconds=sync.interval_seconds,
            jitter_seconds=sync.jitter_seconds,
            clock=services.clock,
        )
        app.extensions["trustlane-scheduler"] = scheduler
        # /health reports whether it still runs and when a sync round last ran.
        app.extensions[health.SCHEDULER_PROBE] = SchedulerProbe(lambda: bool(scheduler.running))
    return app


def close_app(app: Flask, *, drain_seconds: float = 5.0) -> None:
    """Stop the app's background work and close its database pool (a worker exiting).

    In order: the scheduler stops starting jobs (one already running ends with the process;
    its transaction rolls back, and the next round on any worker does it again); pushes
    already handed over are finished and no more are taken; refetches stop and the one in
    progress gets ``drain_seconds``; then the pool is closed. Pushes and refetches first:
    one that ran after the pool was closed would open a connection nobody closes.
    """
    scheduler = app.extensions.pop("trustlane-scheduler", None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
    services: NodeServices | None = app.extensions.pop(SERVICES, None)
    if services is None:
        return
    services.push.close()
    services.refetch.stop()
    services.refetch.drain(drain_seconds)
    services.db.dispose()


def create_app_from_environment() -> Flask:
    """Build the app from ``TRUSTLANE_DATA_DIR`` and the process environment (gunicorn)."""
    logs.configure(logs.log_format(os.environ))
    data_dir = Path(os.environ["TRUSTLANE_DATA_DIR"])
    settings = load(data_dir, os.environ)
    return create_app(build_services(settings, os.environ), start_jobs=True)
