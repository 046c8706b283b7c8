"""Risk decisions: ``POST /risk/assess`` (officer), ``GET /risk/decisions`` (officer, auditor).

The view parses the request and hands it to :class:`~node.services.risk.RiskService`, which
verifies the presentation and attestations, decides and stores. A declaration the risk core
refuses is a 422 problem listing every problem at its JSON Pointer in the request
(``/declaration/containers/0``); nothing is verified or spent for it. See docs/risk.md.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, g, jsonify, request

from node.api.common import Clock, json_body, require_scope
from node.api.errors import ApiError, problem
from node.services.risk import RiskService
from node.services.risk_request import parse_assessment_request
from risk import MalformedDeclarationError

__all__ = ["DEFAULT_PAGE", "declaration_problem", "make_blueprint"]

#: Decisions per page unless ``limit`` says otherwise.
DEFAULT_PAGE = 20
# The declaration schema's rule for declarationId.
_DECLARATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z", re.ASCII)


def declaration_problem(error: MalformedDeclarationError, prefix: str = "/declaration") -> Response:
    """The 422 problem of a refused declaration (``errors``: one per problem found)."""
    return problem(
        422,
        "SCHEMA_VALIDATION_ERROR",
        error.message,
        errors=[{"path": prefix + loc, "message": msg} for loc, msg in error.problems],
    )


def page_limit() -> int:
    """The ``limit`` query parameter (default :data:`DEFAULT_PAGE`)."""
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise ApiError(400, "INVALID_QUERY", "query parameter limit must be a whole number")
    return int(raw)


def make_blueprint(*, risk: RiskService, clock: Clock) -> Blueprint:
    """The ``/risk`` blueprint."""
    bp = Blueprint("risk", __name__)

    @bp.post("/risk/assess")
    @require_scope("officer")
    def assess() -> Response:
        body = json_body()
        try:
            assessment = parse_assessment_request(body)
        except MalformedDeclarationError as e:
            return declaration_problem(e)
        record = risk.assess(assessment, now=clock(), actor=f"token:{g.token.id}")
        response = jsonify(record)
        response.status_code = 201
        response.headers["Location"] = f"/risk/decisions/{record['id']}"
        return response

    @bp.get("/risk/decisions")
    @require_scope("officer", "auditor")
    def list_decisions() -> Response:
        declaration_id = request.args.get("declarationId")
        if declaration_id is not None and not _DECLARATION_ID.match(declaration_id):
            raise ApiError(
                400, "INVALID_QUERY", "query parameter declarationId is not a declaration id"
            )
        decisions, following = risk.decisions(
            limit=page_limit(), cursor=request.args.get("cursor"), declaration_id=declaration_id
        )
        return jsonify({"decisions": decisions, "next": following})

    @bp.get("/risk/decisions/<decision_id>")
    @require_scope("officer", "auditor")
    def get_decision(decision_id: str) -> Response:
        return jsonify(risk.decision(decision_id))

    return bp
