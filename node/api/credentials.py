"""VC-API credential endpoints: issue, verify, status, and fetch an issued credential."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from credentials.errors import MalformedInputError
from credentials.model import is_url
from credentials.strict_json import JSONObject, loads_object
from node.api.common import (
    MAX_REQUEST_BYTES,
    Clock,
    json_body,
    json_body_bytes,
    member,
    optional_time,
    require_scope,
)
from node.api.errors import ApiError
from node.api.routing import url_id_route
from node.services.issuance import IssuanceService
from node.services.status import StatusChange, StatusService
from node.services.verification import PreparedVerifyRequest, VerificationService

__all__ = ["make_blueprint", "status_change_json"]


def status_change_json(change: StatusChange) -> JSONObject:
    """The answer to a status change (the API's and ``trustlane credential suspend``'s).

    ``statusValue`` is the entry's new value as ``statusMessage`` writes it (``0x2``); on a
    multi-bit entry ``statusMessage`` says what it means, and ``reason`` names the reason.
    """
    answer: JSONObject = {
        "credentialId": change.credential_id,
        "statusPurpose": change.purpose,
        "status": change.status,
        "changed": change.changed,
        "statusListCredential": change.status_list_credential,
        "statusListVersion": change.version,
        "statusValue": f"{change.status_value:#x}",
    }
    if change.reason is not None:
        answer["reason"] = change.reason
    if change.status_message is not None:
        answer["statusMessage"] = change.status_message
    return answer


def _status_purposes(options: JSONObject) -> tuple[str, ...]:
    raw = options.get("credentialStatus")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    purposes: list[str] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "BitstringStatusListEntry":
            raise MalformedInputError(
                "options.credentialStatus must be {'type': 'BitstringStatusListEntry'}",
                code="INVALID_OPTIONS",
            )
        purpose = item.get("statusPurpose")
        if purpose is None:
            purposes.extend(["revocation", "suspension"])
        elif isinstance(purpose, str):
            purposes.append(purpose)
        else:
            raise MalformedInputError("statusPurpose must be a string", code="INVALID_OPTIONS")
    return tuple(dict.fromkeys(purposes))


def _parse_verify_body(data: bytes, limit: int) -> PreparedVerifyRequest:
    # A pure function of the bytes, so that its result may be kept per body.
    body = loads_object(data, max_bytes=limit)
    credential = member(body, "verifiableCredential", dict)
    options = member(body, "options", dict, required=False) or {}
    return PreparedVerifyRequest.build(credential, options)


def make_blueprint(
    *,
    issuance: IssuanceService,
    verification: VerificationService,
    status_service: StatusService,
    clock: Clock,
) -> Blueprint:
    """The ``/credentials`` blueprint."""
    bp = Blueprint("credentials", __name__)

    @bp.post("/credentials/issue")
    @require_scope("issuer")
    def issue() -> tuple[Response, int]:
        body = json_body()
        credential = member(body, "credential", dict)
        options = member(body, "options", dict, required=False) or {}
        signed = issuance.issue(
            credential,
            status_purposes=_status_purposes(options),
            now=clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify({"verifiableCredential": signed}), 201

    @bp.post("/credentials/verify")
    @require_scope("officer", "issuer", "auditor")
    def verify() -> tuple[Response, int]:
        # The same body bytes again reuse their prepared form (VerificationService); the
        # checks that depend on time and trust run on every request.
        limit: int = current_app.config[MAX_REQUEST_BYTES]
        parsed = verification.prepare_request(
            json_body_bytes(), lambda data: _parse_verify_body(data, limit)
        )
        outcome = verification.verify(
            parsed.credential,
            now=clock(),
            at=optional_time(parsed.options.get("at"), "options.at"),
            prepared=parsed.prepared,
        )
        return jsonify(outcome.to_dict()), 200 if outcome.verified else 422

    @bp.post("/credentials/status")
    @require_scope("issuer")
    def update_status() -> Response:
        body = json_body()
        credential_id = member(body, "credentialId", str)
        if not is_url(credential_id):
            raise ApiError(404, "NOT_FOUND", "credential ids are URLs (urn:uuid:...)")
        entry = member(body, "credentialStatus", dict)
        status = member(body, "status", bool)
        # Optional: why a suspension is set (a reason code); lifting always sets 0.
        reason = member(body, "reason", str, required=False)
        if entry.get("type") != "BitstringStatusListEntry":
            raise MalformedInputError(
                "credentialStatus.type must be BitstringStatusListEntry", code="INVALID_MEMBER"
            )
        purpose = entry.get("statusPurpose")
        if not isinstance(purpose, str):
            raise MalformedInputError(
                "credentialStatus.statusPurpose must be a string", code="INVALID_MEMBER"
            )
        change = status_service.set_status(
            credential_id,
            purpose,
            status,
            now=clock(),
            actor=f"token:{g.token.id}",
            reason=reason,
        )
        return jsonify(status_change_json(change))

    @url_id_route(bp, "/credentials/<url:credential_id>")
    @require_scope("issuer", "auditor")
    def get_credential(credential_id: str) -> Response:
        if not is_url(credential_id):
            raise ApiError(404, "NOT_FOUND", "credential ids are URLs (urn:uuid:...)")
        record = issuance.get(credential_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", f"no credential {credential_id!r} was issued here")
        entries = status_service.entries(credential_id)
        return jsonify(
            {
                "verifiableCredential": loads_object(record.document),
                "status": [
                    {
                        "statusPurpose": e.purpose,
                        "status": e.value,
                        "statusListCredential": status_service.list_url(e.list_id),
                        "statusListIndex": str(e.idx),
                    }
                    for e in entries
                ],
            }
        )

    return bp
