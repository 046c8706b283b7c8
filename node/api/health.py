"""Health and the OpenAPI document."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from node.api.common import services
from node.storage.db import StorageError

__all__ = ["make_blueprint", "openapi_document"]


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The node's OpenAPI 3.1 description (shipped with the code)."""
    data: dict[str, Any] = json.loads(
        resources.files("node").joinpath("openapi.json").read_text(encoding="utf-8")
    )
    return data


def make_blueprint() -> Blueprint:
    """The ``/health`` and ``/openapi.json`` blueprint."""
    bp = Blueprint("health", __name__)

    @bp.get("/health")
    def health() -> tuple[Response, int]:
        svc = services()
        try:
            with svc.db.read() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except StorageError:
            database = "unavailable"
        ok = database == "ok"
        body = {"status": "ok" if ok else "degraded", "did": svc.identity.did, "database": database}
        return jsonify(body), 200 if ok else 503

    @bp.get("/health/live")
    def live() -> Response:
        # Liveness only: the process answers. No database, no keys (a trivial endpoint).
        return jsonify({"status": "ok"})

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document())

    return bp
