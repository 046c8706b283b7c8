"""Admin endpoint to issue AEO certificates from subject data."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from node.api.common import (
    Clock,
    json_body,
    member,
    optional_time,
    received_at,
    require_scope,
)
from node.services.issuance import IssuanceService

__all__ = ["make_blueprint"]


def make_blueprint(*, issuance: IssuanceService, clock: Clock) -> Blueprint:
    """The ``/aeo-credentials`` blueprint."""
    bp = Blueprint("aeo", __name__)

    @bp.post("/aeo-credentials")
    @require_scope("issuer")
    def issue_aeo() -> tuple[Response, int]:
        body = json_body()
        subject = member(body, "credentialSubject", dict)
        issuer = member(body, "issuer", str, required=False)
        signed = issuance.issue_aeo(
            subject,
            now=clock(),
            actor=f"token:{g.token.id}",
            valid_from=optional_time(body.get("validFrom"), "validFrom"),
            valid_until=optional_time(body.get("validUntil"), "validUntil"),
            issuer=issuer,
            fresh_since=received_at(),
        )
        return jsonify({"verifiableCredential": signed}), 201

    return bp
