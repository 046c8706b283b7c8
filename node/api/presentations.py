"""``POST /presentations/verify``: a trader's presentation for one consignment at a port.

200 when the presentation, its challenge and every credential in it verified; 422 with the
same result shape otherwise (every failed or unknown check says why); 400 when the request
is not a presentation verification request at all. See docs/presentations.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from credentials.errors import MalformedInputError
from node.api.common import Clock, json_body, member, require_scope
from node.services.presentations import PresentationService
from registry.challenges import check_challenge_format, check_consignment, check_port

__all__ = ["make_blueprint"]


def make_blueprint(*, presentations: PresentationService, clock: Clock) -> Blueprint:
    """The ``/presentations`` blueprint."""
    bp = Blueprint("presentations", __name__)

    @bp.post("/presentations/verify")
    @require_scope("officer")
    def verify_presentation() -> tuple[Response, int]:
        body = json_body()
        presentation = member(body, "verifiablePresentation", dict)
        options = member(body, "options", dict)
        challenge = check_challenge_format(member(options, "challenge", str))
        consignment = check_consignment(member(options, "consignment", str))
        port = check_port(member(options, "port", str))
        domain = member(options, "domain", str, required=False)
        if domain is not None and domain != presentations.domain:
            raise MalformedInputError(
                f"options.domain must be this node's origin ({presentations.domain}); "
                "presentations for other verifiers are not verified here",
                code="INVALID_OPTIONS",
            )
        outcome = presentations.verify(
            presentation, challenge=challenge, consignment=consignment, port=port, now=clock()
        )
        result = outcome.to_dict()
        result["consignment"] = consignment
        result["port"] = port
        return jsonify(result), 200 if outcome.verified else 422

    return bp
