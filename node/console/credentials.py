"""The console's credential pages: the list, one credential, issuing, suspend/lift/revoke.

The pages read through :class:`~node.services.console_credentials.ConsoleCredentials` and
act through the same services as the API: ``POST /aeo-credentials``
(:meth:`IssuanceService.issue_aeo`) and ``POST /credentials/status``
(:meth:`StatusService.set_status`), with the same scopes. Viewing one credential (its
subject data) needs the scopes of ``GET /credentials/{id}`` (issuer, auditor); the list,
which shows no subject data, may also be opened by officers.

Revoking cannot be undone, so the first revoke form only opens a confirmation page; its
second form, with ``confirm=yes``, revokes. The suspend form of a credential whose suspension
entry carries a reason (2 bits) has a reason select; the status table shows the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from credentials.aeo import SchemaValidationError, aeo_subject_schema
from credentials.datetimes import parse_datetime
from credentials.errors import MalformedInputError
from credentials.model import is_url
from credentials.strict_json import JSONObject
from node.api.routing import url_id_route
from node.console.web import (
    ConsoleError,
    console_blueprint,
    console_scope,
    current_user,
    render_page,
)
from node.services.console_credentials import (
    MAX_PAGE_SIZE,
    ConsoleCredentials,
    CredentialDetail,
)
from node.services.console_sessions import ConsoleSessions
from node.services.issuance import IssuanceService
from node.services.status import (
    DEFAULT_SUSPENSION_REASON,
    SUSPENSION_REASONS,
    NotFoundError,
    StatusConflictError,
    StatusService,
    status_message,
)
from node.services.tokens import has_scope
from node.storage.console_repo import CREDENTIAL_STATES
from node.storage.records import StatusEntryRecord

__all__ = ["IDENTIFIER_ROWS", "make_blueprint", "subject_from_form"]

#: Identifier rows the issue form offers (the schema allows up to ten).
IDENTIFIER_ROWS = 3
PAGE_SIZE = 50
_MAX_PAGE = 1_000_000
_READ_SCOPES = ("issuer", "auditor")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", re.ASCII)
_FIELD_LABELS = {
    "id": "Holder DID",
    "type": "Subject type",
    "legalName": "Legal name",
    "identifiers": "Identifiers",
    "country": "Country",
    "authorisationNumber": "Authorisation number",
    "programme": "Programme",
    "level": "Level",
    "roles": "Roles",
    "reassessmentDate": "Reassessment date",
    "issuingAuthority": "Issuing authority",
    "address": "Address",
}
#: ``?done=`` codes after an action, mapped to fixed texts (nothing from the URL is shown).
DONE = {
    "issued": "The credential was issued. It is active.",
    "suspended": "The credential is suspended. Verifiers see it as suspended from now on.",
    "lifted": "The suspension was lifted. The credential is active again.",
    "revoked": "The credential is revoked, for good.",
}
_ACTIONS = {
    # action: (purpose, value, done code, message when nothing would change)
    "suspend": ("suspension", True, "suspended", "This credential is already suspended."),
    "lift": ("suspension", False, "lifted", "This credential is not suspended."),
    "revoke": ("revocation", True, "revoked", "This credential is already revoked."),
}


_REASON_CODES = frozenset(r.code for r in SUSPENSION_REASONS)


def _entry_note(entry: StatusEntryRecord) -> str | None:
    """What a multi-bit entry's value means (a suspension's reason); None for one bit."""
    return status_message(entry.status_size, entry.status_value)


def _takes_reason(detail: CredentialDetail) -> bool:
    """True when the credential's suspension entry carries a reason (more than one bit)."""
    return any(e.purpose == "suspension" and e.status_size > 1 for e in detail.entries)


def _schema_enum(*path: str) -> list[str]:
    node: Any = aeo_subject_schema()
    for part in path:
        node = node[part]
    return [str(v) for v in node]


def _date_time(value: str) -> str:
    """A date from a date input as a dateTimeStamp at midnight UTC; other text unchanged."""
    value = value.strip()
    return f"{value}T00:00:00Z" if _DATE.match(value) else value


def subject_from_form(form: Any) -> JSONObject:
    """The AEO credential subject the issue form describes (not yet validated).

    Blank optional fields are left out; the schema check then reports what is missing or
    wrong, by field.
    """
    subject: JSONObject = {"type": "AuthorisedEconomicOperator"}
    for name in ("id", "legalName", "country", "authorisationNumber", "programme", "level"):
        value = form.get(name, "").strip()
        if value:
            subject[name] = value
    identifiers: list[Any] = []
    for i in range(IDENTIFIER_ROWS):
        scheme = form.get(f"scheme_{i}", "").strip()
        value = form.get(f"value_{i}", "").strip()
        if value:
            identifiers.append({"scheme": scheme, "value": value})
    subject["identifiers"] = identifiers
    subject["roles"] = [str(r) for r in form.getlist("roles")]
    reassessment = form.get("reassessmentDate", "").strip()
    if reassessment:
        subject["reassessmentDate"] = _date_time(reassessment)
    authority = form.get("issuingAuthority", "").strip()
    if authority:
        subject["issuingAuthority"] = authority
    address = {
        name: form.get(field, "").strip()
        for name, field in (
            ("streetAddress", "streetAddress"),
            ("postalCode", "postalCode"),
            ("city", "city"),
            ("country", "addressCountry"),
        )
    }
    if any(address.values()):
        subject["address"] = {k: v for k, v in address.items() if v}
    return subject


def _optional_time(form: Any, name: str) -> datetime | None:
    value = form.get(name, "").strip()
    if not value:
        return None
    return parse_datetime(_date_time(value), field=name)


def _schema_errors(error: SchemaValidationError) -> list[tuple[str, str]]:
    shown = []
    for item in error.errors:
        parts = item["path"].split("/")[1:]
        label = _FIELD_LABELS.get(parts[0], parts[0]) if parts else "Subject"
        if parts[:1] == ["identifiers"] and len(parts) > 1:
            label = f"Identifier {int(parts[1]) + 1}" if parts[1].isdigit() else label
        if parts[:1] == ["address"] and len(parts) > 1:
            label = f"Address, {parts[1]}"
        shown.append((label, item["message"]))
    return shown


def make_blueprint(
    *,
    sessions: ConsoleSessions,
    reader: ConsoleCredentials,
    issuance: IssuanceService,
    status_service: StatusService,
    clock: Callable[[], datetime],
) -> Blueprint:
    """The ``/console/credentials`` blueprint."""
    bp = console_blueprint("console_credentials", __name__, sessions=sessions, clock=clock)
    roles = _schema_enum("properties", "roles", "items", "enum")
    schemes = _schema_enum("$defs", "identifier", "properties", "scheme", "enum")

    def _int_arg(name: str, default: int, highest: int) -> int:
        raw = request.args.get(name, "")
        if raw == "":
            return default
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 7 and 1 <= int(raw) <= highest):
            raise ConsoleError(
                400,
                f"The {name} in the address is not valid.",
                f"Use a whole number from 1 to {highest}, or open the list from the menu.",
            )
        return int(raw)

    @bp.get("/credentials")
    @console_scope("issuer", "officer", "auditor")
    def list_credentials() -> Response:
        state = request.args.get("state") or None
        if state is not None and state not in CREDENTIAL_STATES:
            raise ConsoleError(
                400,
                "There is no such credential state.",
                f"Choose one of: {', '.join(CREDENTIAL_STATES)}, or all.",
            )
        page = reader.page(
            g.console_now,
            state=state,
            page=_int_arg("page", 1, _MAX_PAGE),
            size=_int_arg("size", PAGE_SIZE, MAX_PAGE_SIZE),
        )
        return render_page(
            "console/credentials.html",
            p=page,
            states=CREDENTIAL_STATES,
            may_open=has_scope(current_user().token, *_READ_SCOPES),
            may_issue=has_scope(current_user().token, "issuer"),
        )

    def _detail_page(
        detail: CredentialDetail, *, status: int = 200, error: str | None = None
    ) -> Response:
        notices = []
        done = request.args.get("done", "")
        if status == 200 and done in DONE:
            notices.append(("ok", DONE[done]))
        if error is not None:
            notices.append(("error", error))
        return render_page(
            "console/credential.html",
            status=status,
            c=detail,
            list_url=status_service.list_url,
            may_act=has_scope(current_user().token, "issuer"),
            notices=notices,
            entry_note=_entry_note,
            takes_reason=_takes_reason(detail),
            reasons=SUSPENSION_REASONS,
            default_reason=DEFAULT_SUSPENSION_REASON,
        )

    def _find(credential_id: str) -> CredentialDetail:
        detail = reader.detail(credential_id, g.console_now) if is_url(credential_id) else None
        if detail is None:
            raise ConsoleError(
                404,
                "This node issued no credential with that id.",
                "Check the id (they look like urn:uuid:...) or find it in the credential list.",
            )
        return detail

    @url_id_route(bp, "/credentials/<url:credential_id>")
    @console_scope(*_READ_SCOPES)
    def credential(credential_id: str) -> Response:
        return _detail_page(_find(credential_id))

    def _issue_form(
        *, status: int = 200, errors: list[tuple[str, str]] | None = None, form: Any = None
    ) -> Response:
        return render_page(
            "console/credential_issue.html",
            status=status,
            errors=errors or [],
            form=form if form is not None else request.form,
            roles=roles,
            schemes=schemes,
            identifier_rows=range(IDENTIFIER_ROWS),
        )

    @bp.get("/credentials/issue")
    @console_scope("issuer")
    def issue_form() -> Response:
        return _issue_form(form=MultiDict({"scheme_0": "EORI", "programme": "EU-AEO"}))

    @bp.post("/credentials/issue")
    @console_scope("issuer")
    def issue() -> BaseResponse:
        form = request.form
        try:
            valid_from = _optional_time(form, "validFrom")
            valid_until = _optional_time(form, "validUntil")
            signed = issuance.issue_aeo(
                subject_from_form(form),
                now=g.console_now,
                actor=current_user().actor,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        except SchemaValidationError as e:
            return _issue_form(status=422, errors=_schema_errors(e))
        except MalformedInputError as e:
            return _issue_form(status=422, errors=[("Validity", e.message)])
        credential_id = str(signed["id"])
        return redirect(url_for(".credential", credential_id=credential_id, done="issued"), 303)

    @bp.post("/credentials/status")
    @console_scope("issuer")
    def change_status() -> BaseResponse:
        detail = _find(request.form.get("id", ""))
        action = request.form.get("action", "")
        if action not in _ACTIONS:
            return _detail_page(
                detail, status=400, error="Unknown action: choose one of the buttons."
            )
        purpose, value, done, unchanged = _ACTIONS[action]
        if action != "revoke" and detail.state == "revoked":
            return _detail_page(
                detail,
                status=409,
                error="This credential is revoked: it cannot be suspended or lifted.",
            )
        if not detail.has_purpose(purpose):
            return _detail_page(
                detail,
                status=409,
                error=f"This credential has no {purpose} status entry, so it cannot be {done}.",
            )
        if action == "revoke" and request.form.get("confirm") != "yes":
            if detail.state == "revoked":
                return _detail_page(detail, status=409, error=unchanged)
            return render_page("console/credential_revoke.html", c=detail)
        reason = request.form.get("reason") or None
        if reason is not None and (action != "suspend" or reason not in _REASON_CODES):
            return _detail_page(
                detail,
                status=400,
                error="Unknown suspension reason: choose one from the list.",
            )
        if reason is not None and not _takes_reason(detail):
            return _detail_page(
                detail,
                status=409,
                error="This credential was issued before suspension reasons: suspend it "
                "without a reason.",
            )
        try:
            change = status_service.set_status(
                detail.record.id,
                purpose,
                value,
                now=g.console_now,
                actor=current_user().actor,
                reason=reason,
            )
        except (NotFoundError, StatusConflictError) as e:
            return _detail_page(detail, status=409, error=e.message)
        if not change.changed:
            return _detail_page(_find(detail.record.id), status=409, error=unchanged)
        return redirect(url_for(".credential", credential_id=detail.record.id, done=done), 303)

    return bp
