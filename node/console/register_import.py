"""The console's register import: upload a national AEO register, see what was issued.

The same import as ``trustlane aeo import`` (:func:`parse_register`, then
:func:`import_register`): a CSV or JSON Lines file, one credential per good row, every bad
row reported with its row, field and reason, and a re-run of the same file skipping the rows
already issued. The upload is bounded by the node's request size (``max_request_bytes``);
larger registers go through the CLI. The report is the answer to the upload; running the same
upload again is harmless (it skips what was issued).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from node.console.web import console_blueprint, console_scope, current_user, render_page
from node.services.aeo_import import (
    CSV_COLUMNS,
    CSV_REQUIRED,
    RegisterError,
    format_of,
    import_register,
    parse_register,
)
from node.services.console_sessions import ConsoleSessions
from node.services.issuance import IssuanceService
from node.storage.db import Database

__all__ = ["MAX_SHOWN_ERRORS", "make_blueprint"]

#: Problems listed on the report page; the count of the rest is shown.
MAX_SHOWN_ERRORS = 500
_FORMATS = ("csv", "jsonl")


def make_blueprint(
    *,
    sessions: ConsoleSessions,
    issuance: IssuanceService,
    db: Database,
    max_bytes: int,
    clock: Callable[[], datetime],
) -> Blueprint:
    """The ``/console/import`` blueprint."""
    bp = console_blueprint("console_import", __name__, sessions=sessions, clock=clock)
    limit = f"{max_bytes // 1024:,} KiB"

    def _form(*, status: int = 200, error: str | None = None) -> Response:
        return render_page(
            "console/register_import.html",
            status=status,
            limit=limit,
            columns=CSV_COLUMNS,
            required=CSV_REQUIRED,
            notices=[("error", error)] if error else [],
        )

    @bp.errorhandler(RequestEntityTooLarge)
    def _too_large(_: RequestEntityTooLarge) -> Response:
        return _form(
            status=413,
            error=f"The file is larger than this node accepts in a request ({limit}). "
            "Split the register, or import it with `trustlane aeo import` on the node.",
        )

    @bp.get("/import")
    @console_scope("issuer")
    def import_form() -> Response:
        return _form()

    @bp.post("/import")
    @console_scope("issuer")
    def run_import() -> Response:
        upload = request.files.get("register")
        if upload is None or not upload.filename:
            return _form(status=400, error="Choose a register file (CSV or JSON Lines) to import.")
        given = request.form.get("format", "")
        if given not in ("", *_FORMATS):
            return _form(status=400, error="The format must be CSV, JSON Lines, or from the name.")
        name = upload.filename[:200]
        data = upload.stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise RequestEntityTooLarge()
        try:
            fmt = format_of(name, given or None)
        except RegisterError:
            return _form(
                status=400,
                error="The file name does not say CSV (.csv) or JSON Lines (.jsonl, .ndjson): "
                "choose the format below.",
            )
        try:
            register = parse_register(data, fmt)
        except RegisterError as e:
            return _form(status=400, error=f"{name}: {e.message}. Nothing was imported.")
        summary = import_register(
            register,
            issuance=issuance,
            db=db,
            clock=lambda: g.console_now,
            actor=current_user().actor,
        )
        return render_page(
            "console/register_import_report.html",
            status=422 if summary.failed else 200,
            name=name,
            format=register.format,
            summary=summary,
            errors=summary.errors[:MAX_SHOWN_ERRORS],
            more=max(0, len(summary.errors) - MAX_SHOWN_ERRORS),
        )

    return bp
