"""Public status list credentials (W3C Bitstring Status List), with ETag and caching."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from node.api.common import Clock
from node.api.errors import ApiError
from node.services.status import LIST_ID, StatusService

__all__ = ["make_blueprint"]


def make_blueprint(*, status_service: StatusService, cache_seconds: int, clock: Clock) -> Blueprint:
    """The ``/status-lists`` blueprint."""
    bp = Blueprint("status_lists", __name__)

    @bp.get("/status-lists")
    def list_status_lists() -> Response:
        # Partners sync every list this node publishes, so that a credential on a list they
        # have not seen yet is rare (verification never fetches; it answers unknown).
        response = jsonify({"statusLists": status_service.list_urls()})
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    @bp.get("/status-lists/<list_id>")
    def get_status_list(list_id: str) -> Response:
        if not LIST_ID.match(list_id):
            raise ApiError(404, "NOT_FOUND", f"no status list {list_id!r}")
        now = clock()
        record = status_service.current_version(list_id, now)
        remaining = int((record.valid_until - now) / timedelta(seconds=1))
        max_age = max(0, min(cache_seconds, remaining))
        headers = {
            "ETag": record.etag,
            "Cache-Control": f"public, max-age={max_age}",
            "Last-Modified": record.published_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        # RFC 9110 §13.1.2: weak comparison, and "*" matches any current representation.
        wanted = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
        if "*" in wanted or record.etag in [t.removeprefix("W/") for t in wanted]:
            return Response(status=304, headers=headers)
        return Response(record.document, status=200, mimetype="application/json", headers=headers)

    return bp
