"""Public identity documents: the did:web DID document and the AEO JSON-LD context."""

from __future__ import annotations

from flask import Blueprint, Response, json

from credentials.aeo import aeo_context
from node.services.identity import NodeIdentity
from registry._mra_schema import mra_context

__all__ = ["make_blueprint"]


def make_blueprint(*, identity: NodeIdentity) -> Blueprint:
    """The DID document and context blueprint."""
    bp = Blueprint("identity", __name__)

    @bp.get("/.well-known/did.json")
    def did_document() -> Response:
        document = identity.did_document()
        response = Response(json.dumps(document), mimetype="application/did+json")
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    @bp.get("/contexts/aeo/v1")
    def aeo_context_document() -> Response:
        response = Response(json.dumps(aeo_context()), mimetype="application/ld+json")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    @bp.get("/contexts/mra/v1")
    def mra_context_document() -> Response:
        response = Response(json.dumps(mra_context()), mimetype="application/ld+json")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    return bp
