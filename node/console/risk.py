"""The console's risk pages: the decisions list, one decision explained, an assessment form.

Scopes as the API: officers and auditors read decisions; only officers assess. The
assessment form takes the JSON request file ``POST /risk/assess`` takes (a declaration,
optionally a presentation and scan bundles) and shows the stored decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject
from node.console.uploads import MAX_UPLOAD_BYTES, UploadError, json_upload
from node.console.web import (
    ConsoleError,
    console_blueprint,
    console_scope,
    current_user,
    render_page,
)
from node.services.console_risk import CHANNEL_COLOURS, ConsoleRisk
from node.services.console_sessions import ConsoleSessions
from node.services.risk_request import parse_assessment_request
from risk import MalformedDeclarationError

__all__ = ["PAGE", "make_blueprint"]

#: Decisions per page.
PAGE = 25
# The declaration schema's rule for declarationId (as GET /risk/decisions).
_DECLARATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z", re.ASCII)
_DECISION_ID = re.compile(r"[A-Za-z0-9-]{1,64}\Z", re.ASCII)
_DONE = {"assessed": "The declaration was assessed; the decision below is stored."}


def make_blueprint(
    *, sessions: ConsoleSessions, read: ConsoleRisk, clock: Callable[[], datetime]
) -> Blueprint:
    """The ``/console/risk/...`` blueprint."""
    bp = console_blueprint("console_risk", __name__, sessions=sessions, clock=clock)

    def _list(*, declaration: str, status: int = 200, error: str | None = None) -> Response:
        decisions: list[JSONObject] = []
        following = None
        if error is None:
            try:
                decisions, following = read.risk.decisions(
                    limit=PAGE,
                    cursor=request.args.get("cursor") or None,
                    declaration_id=declaration or None,
                )
            except MalformedInputError:
                status = 400
                error = "That page link is not valid. Start again from the first page."
        return render_page(
            "console/risk_decisions.html",
            status=status,
            decisions=decisions,
            following=following,
            declaration=declaration,
            first_page=request.args.get("cursor") is None,
            colours=CHANNEL_COLOURS,
            notices=[("error", error)] if error else [],
        )

    @bp.get("/risk/decisions")
    @console_scope("officer", "auditor")
    def decisions() -> Response:
        declaration = request.args.get("declaration", "").strip()
        if declaration and not _DECLARATION_ID.match(declaration):
            return _list(
                declaration=declaration,
                status=400,
                error="A declaration id is 1 to 64 letters, digits and . _ : - (it starts "
                "with a letter or digit). Correct the filter and search again.",
            )
        return _list(declaration=declaration)

    @bp.get("/risk/decisions/<decision_id>")
    @console_scope("officer", "auditor")
    def decision(decision_id: str) -> Response:
        if not _DECISION_ID.match(decision_id):
            raise ConsoleError(
                404, "There is no such decision.", "Open it again from the list of decisions."
            )
        view = read.decision(decision_id)
        done = _DONE.get(request.args.get("done", ""))
        return render_page(
            "console/risk_decision.html",
            d=view,
            colours=CHANNEL_COLOURS,
            notices=[("ok", done)] if done else [],
        )

    def _form(*, status: int = 200, error: str | None = None, problems: object = ()) -> Response:
        return render_page(
            "console/risk_assess.html",
            status=status,
            problems=problems,
            max_kib=MAX_UPLOAD_BYTES // 1024,
            notices=[("error", error)] if error else [],
        )

    @bp.get("/risk/assess")
    @console_scope("officer")
    def assess_form() -> Response:
        return _form()

    @bp.post("/risk/assess")
    @console_scope("officer")
    def assess() -> BaseResponse:
        try:
            body = json_upload("request")
        except UploadError as e:
            return _form(status=400, error=str(e))
        try:
            assessment = parse_assessment_request(body)
        except MalformedDeclarationError as e:
            return _form(
                status=422,
                error=f"The declaration is not acceptable: {e.message}",
                problems=[("/declaration" + where, what) for where, what in e.problems],
            )
        except MalformedInputError as e:
            return _form(status=400, error=f"The request is not acceptable: {e.message}")
        try:
            record = read.risk.assess(assessment, now=g.console_now, actor=current_user().actor)
        except MalformedInputError as e:  # options naming another consignment, port, verifier
            return _form(status=400, error=f"The request is not acceptable: {e.message}")
        return redirect(
            url_for("console_risk.decision", decision_id=str(record["id"]), done="assessed"), 303
        )

    return bp
