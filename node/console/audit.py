"""The console's audit page: upload a scan attestation bundle and see each check.

The bundle is checked as ``POST /attestations/verify`` checks it: the node's
:class:`~node.services.attestations.AttestationVerifier` audits it step by step with the
keys this node trusts (its own and its fresh, trusted partners'), then checks the device
authorisation's status now. Checking changes nothing, so the result is the answer to the
form itself. A file that cannot be read is a 400 page saying why, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, request

from node.console.uploads import MAX_UPLOAD_BYTES, UploadError, json_upload
from node.console.web import console_blueprint, console_scope, render_page
from node.services.attestations import AttestationVerifier
from node.services.console_sessions import ConsoleSessions
from node.services.risk_request import MAX_MIN_WITNESSES

__all__ = ["STEP_NAMES", "make_blueprint"]

#: What each audit step checks, in the officer's words.
STEP_NAMES = {
    "bundle": "The bundle can be read",
    "device-authorization": "The device was authorised for this scan",
    "device-proof": "The scanning device signed the attestation",
    "node-proof": "The node countersigned the device's signature",
    "inclusion": "The attestation is in the node's transparency log",
    "checkpoint": "The log checkpoint is signed by the node",
    "witnesses": "Witnesses cosigned the checkpoint",
    "consistency": "The log is consistent with other checkpoints",
}


def make_blueprint(
    *,
    sessions: ConsoleSessions,
    verifier: AttestationVerifier,
    clock: Callable[[], datetime],
) -> Blueprint:
    """The ``/console/audit`` blueprint."""
    bp = console_blueprint("console_audit", __name__, sessions=sessions, clock=clock)

    def _page(*, status: int = 200, error: str | None = None, **context: object) -> Response:
        return render_page(
            "console/audit.html",
            status=status,
            max_kib=MAX_UPLOAD_BYTES // 1024,
            max_witnesses=MAX_MIN_WITNESSES,
            step_names=STEP_NAMES,
            notices=[("error", error)] if error else [],
            **{"result": None, "min_witnesses": 0, "filename": None, **context},
        )

    @bp.get("/audit")
    @console_scope("officer", "auditor")
    def audit_form() -> Response:
        return _page()

    @bp.post("/audit")
    @console_scope("officer", "auditor")
    def audit() -> Response:
        raw = request.form.get("min_witnesses", "0")
        if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_MIN_WITNESSES):
            return _page(
                status=400,
                error=f"Witnesses required must be a whole number from 0 to {MAX_MIN_WITNESSES}.",
            )
        minimum = int(raw)
        upload = request.files.get("bundle")
        filename = upload.filename if upload is not None else None
        try:
            bundle = json_upload("bundle")
        except UploadError as e:
            return _page(status=400, error=str(e), min_witnesses=minimum, filename=filename)
        checked = verifier.check(bundle, now=g.console_now, min_witnesses=minimum)
        return _page(result=checked, min_witnesses=minimum, filename=filename)

    return bp
