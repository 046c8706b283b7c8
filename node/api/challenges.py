"""``POST /challenges``: a single-use challenge for a presentation of one consignment at a port.

The officer's client (port system or console) asks for it and relays it, with this node's
origin as ``domain``, to the trader's wallet (QR code, NFC, a port community system message);
see docs/presentations.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from credentials.datetimes import format_datetime
from node.api.common import Clock, json_body, member, require_scope
from node.services.challenges import ChallengeService

__all__ = ["make_blueprint"]


def make_blueprint(*, challenges: ChallengeService, clock: Clock) -> Blueprint:
    """The ``/challenges`` blueprint."""
    bp = Blueprint("challenges", __name__)

    @bp.post("/challenges")
    @require_scope("officer")
    def issue_challenge() -> tuple[Response, int]:
        body = json_body()
        issued = challenges.issue(
            member(body, "consignment", str),
            member(body, "port", str),
            now=clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify(
            {
                "challenge": issued.value,
                "domain": challenges.domain,
                "consignment": issued.consignment,
                "port": issued.port,
                "expires": format_datetime(issued.expires_at),
            }
        ), 201

    return bp
