"""``POST /attestations/verify``: a port checks a scan attestation bundle (officer, auditor)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from credentials.errors import MalformedInputError
from node.api.common import Clock, json_body, member, require_scope
from node.services.attestations import AttestationVerifier

__all__ = ["MAX_MIN_WITNESSES", "make_blueprint"]

MAX_MIN_WITNESSES = 16


def make_blueprint(*, verifier: AttestationVerifier, clock: Clock) -> Blueprint:
    """The ``/attestations`` blueprint."""
    bp = Blueprint("attestations", __name__)

    @bp.post("/attestations/verify")
    @require_scope("officer", "auditor")
    def verify_attestation() -> Response:
        body = json_body()
        bundle = member(body, "bundle", dict)
        options = member(body, "options", dict, required=False) or {}
        minimum = options.get("minWitnesses", 0)
        if (
            not isinstance(minimum, int)
            or isinstance(minimum, bool)
            or not 0 <= minimum <= MAX_MIN_WITNESSES
        ):
            raise MalformedInputError(
                f"options.minWitnesses must be a whole number from 0 to {MAX_MIN_WITNESSES}",
                code="INVALID_OPTIONS",
            )
        checked = verifier.check(bundle, now=clock(), min_witnesses=minimum)
        return jsonify(checked.to_json())

    return bp
