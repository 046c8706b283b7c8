"""Health (readiness and liveness) and the OpenAPI document."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from federation_config.federation import SyncSettings
from node.api.errors import problem
from node.services.identity import NodeIdentity
from node.services.readiness import SchedulerProbe, check_readiness
from node.storage.db import Database

__all__ = ["SCHEDULER_PROBE", "make_blueprint", "openapi_document"]

# Where create_app() keeps the SchedulerProbe of this worker's sync scheduler (when it runs).
SCHEDULER_PROBE = "trustlane-scheduler-probe"


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The node's OpenAPI 3.1 description (shipped with the code)."""
    data: dict[str, Any] = json.loads(
        resources.files("node").joinpath("openapi.json").read_text(encoding="utf-8")
    )
    return data


def make_blueprint(
    *,
    db: Database,
    identity: NodeIdentity,
    sync: SyncSettings,
    split_views: Callable[[], int],
    key_rotation: Callable[[], dict[str, object]] | None = None,
) -> Blueprint:
    """The ``/health`` and ``/openapi.json`` blueprint.

    ``key_rotation`` gives the signing key's age, the next scheduled rotation and any
    announcement not yet acknowledged (shown, never a reason to be unready).
    """
    bp = Blueprint("health", __name__)

    @bp.get("/health")
    def health() -> Response:
        # Readiness: database, schema at head, signing key, sync scheduler (see readiness.py).
        probe = current_app.extensions.get(SCHEDULER_PROBE)
        readiness = check_readiness(
            db=db,
            identity=identity,
            sync_interval=timedelta(seconds=sync.interval_seconds),
            sync_jitter=timedelta(seconds=sync.jitter_seconds),
            scheduler=probe if isinstance(probe, SchedulerProbe) else None,
            scheduler_disabled_reason="testing" if current_app.testing else "jobs not started",
        )
        if readiness.ready:
            # A split view of a partner's log does not make this node unready (it serves its
            # own data correctly), but every health probe shows it to the operator.
            body: dict[str, object] = {
                "status": "ok",
                "did": identity.did,
                "checks": readiness.checks_json(),
                "splitViewAlerts": split_views(),
            }
            if key_rotation is not None:
                body["keyRotation"] = key_rotation()
            return jsonify(body)
        return problem(
            503,
            "NOT_READY",
            "not ready: " + readiness.summary(),
            did=identity.did,
            failing=readiness.failing,
            checks=readiness.checks_json(),
        )

    @bp.get("/health/live")
    def live() -> Response:
        # Liveness only: the process answers. No database, no keys (a trivial endpoint).
        return jsonify({"status": "ok"})

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document())

    return bp
