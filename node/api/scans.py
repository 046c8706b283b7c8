"""``POST /scans``: a device submits a scan attestation it signed.

No bearer token: the device's proof authenticates the request, and the node refuses anything
its registered, active, authorised devices did not sign (:mod:`node.services.scans`).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from node.api.common import Clock, json_body, require_scope
from node.services.scans import ScanService

__all__ = ["make_blueprint"]


def make_blueprint(*, scans: ScanService, clock: Clock) -> Blueprint:
    """The ``/scans`` blueprint."""
    bp = Blueprint("scans", __name__)

    @bp.post("/scans")
    def submit_scan() -> tuple[Response, int]:
        bundle = scans.submit(json_body(), now=clock())
        return jsonify(bundle.to_json()), 201

    @bp.get("/scans/<attestation_id>/bundle")
    @require_scope("officer", "auditor", "device-admin")
    def get_bundle(attestation_id: str) -> Response:
        # The same bundle under the latest checkpoint, with the cosignatures gathered since.
        return jsonify(scans.current_bundle(attestation_id, now=clock()).to_json())

    return bp
