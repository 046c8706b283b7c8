"""The identifier crosswalk (``registry-admin``; ``auditor`` may read): ``/identifiers``.

``POST /identifiers`` links two identifiers of one trader (an EU EORI and the US MID it
trades under); ``GET /identifiers`` pages through the links. See docs/risk.md.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject
from node.api.common import Clock, json_body, member, require_scope
from node.api.risk import page_limit
from node.services.identifiers import IdentifierService, link_json
from risk import PartyIdentifier

__all__ = ["make_blueprint"]


def _identifier(body: JSONObject, name: str) -> PartyIdentifier:
    value = member(body, name, dict)
    unknown = sorted(set(value) - {"scheme", "value"})
    if unknown:
        raise MalformedInputError(f"{name} has unknown members {unknown}", code="INVALID_MEMBER")
    return PartyIdentifier(member(value, "scheme", str), member(value, "value", str))


def make_blueprint(*, identifiers: IdentifierService, clock: Clock) -> Blueprint:
    """The ``/identifiers`` blueprint."""
    bp = Blueprint("identifiers", __name__)

    @bp.post("/identifiers")
    @require_scope("registry-admin")
    def add_link() -> tuple[Response, int]:
        body = json_body()
        unknown = sorted(set(body) - {"identifier", "linked", "note"})
        if unknown:
            raise MalformedInputError(f"unknown members {unknown}", code="INVALID_MEMBER")
        record = identifiers.add_link(
            _identifier(body, "identifier"),
            _identifier(body, "linked"),
            note=body.get("note"),
            now=clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify(link_json(record)), 201

    @bp.get("/identifiers")
    @require_scope("registry-admin", "auditor")
    def list_links() -> Response:
        links, following = identifiers.links(limit=page_limit(), cursor=request.args.get("cursor"))
        return jsonify({"links": [link_json(r) for r in links], "next": following})

    return bp
