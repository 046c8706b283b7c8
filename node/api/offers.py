"""``POST /credential-offers``: an issuer offers a trader its AEO credential (OpenID4VCI).

Answers 201 with the credential offer (pre-authorised code flow) to hand to the trader's
wallet, and the transaction code (PIN) to send the trader by a second channel. See
docs/presentations.md ("Receiving a credential").
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from node.api.common import Clock, json_body, member, require_scope
from node.services.offers import OfferService

__all__ = ["make_blueprint"]


def make_blueprint(*, offers: OfferService, clock: Clock) -> Blueprint:
    """The ``/credential-offers`` blueprint."""
    bp = Blueprint("offers", __name__)

    @bp.post("/credential-offers")
    @require_scope("issuer")
    def create_offer() -> tuple[Response, int]:
        body = json_body()
        created = offers.create_offer(
            member(body, "trader", str), now=clock(), actor=f"token:{g.token.id}"
        )
        return jsonify(created.to_dict()), 201

    return bp
