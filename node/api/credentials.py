"""VC-API credential endpoints: issue, verify, status, and fetch an issued credential."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from credentials.errors import MalformedInputError
from credentials.model import is_url
from credentials.result import VerificationResult
from credentials.strict_json import JSONObject, loads_object
from node.api.common import (
    MAX_REQUEST_BYTES,
    Clock,
    compact_json,
    json_body,
    json_body_bytes,
    json_response,
    json_text_response,
    member,
    optional_time,
    received_at,
    require_scope,
    writes_compact_json,
)
from node.api.errors import ApiError
from node.api.routing import url_id_route
from node.services.issuance import IssuanceService
from node.services.status import StatusChange, StatusService
from node.services.verification import PreparedVerifyRequest, VerificationService
from registry.pipeline import TrustedVerification

__all__ = ["VerifyAnswers", "make_blueprint", "status_change_json"]

_VerifyAnswerKey = tuple[VerificationResult, frozenset[str], str | None, bool]


class VerifyAnswers:
    """The JSON text of recent verify answers, by the value of what it is written from.

    :meth:`TrustedVerification.to_dict` reads the result (its checks and warnings), the
    benefits, the agreement and ``historical``: frozen values, compared by value. Two
    outcomes equal in these write the same text, so it is written once: a credential
    verified again with nothing changed gives equal values (its passing checks are even the
    same objects). Any other outcome (a check that now fails, another detail) is another
    key. ``tests/unit/test_api_common.py`` checks that these are all the fields there are.

    Bounded (emptied when full); only the compact text of :func:`compact_json` is kept, and
    only up to ``max_chars`` (an answer is about 1 KB; the key's strings are all in the
    text), so the memory held stays below ``2 * max_entries * max_chars`` characters.

    Args:
        max_entries: How many answers to keep.
        max_chars: The longest answer kept; longer ones are written every time.

    """

    def __init__(self, max_entries: int = 256, max_chars: int = 8192) -> None:
        self._max = max_entries
        self._max_chars = max_chars
        self._texts: dict[_VerifyAnswerKey, str] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def response(self, outcome: TrustedVerification) -> Response:
        """The answer to a verify request: the outcome, 200 when verified, else 422."""
        status = 200 if outcome.verified else 422
        if not writes_compact_json():  # debug mode: indented, as jsonify writes it
            return json_response(outcome.to_dict(), status)
        key = (outcome.result, outcome.benefits, outcome.agreement, outcome.historical)
        text = self._texts.get(key)
        if text is None:
            text = compact_json(outcome.to_dict())
            if text is None:  # pragma: no cover - the app left compact mode meanwhile
                return json_response(outcome.to_dict(), status)
            if len(text) > self._max_chars:
                return json_text_response(text, status)
            if len(self._texts) >= self._max:
                self._texts.clear()
            self._texts[key] = text
        return json_text_response(text, status)


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
    answers = VerifyAnswers()

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
            fresh_since=received_at(),
        )
        return jsonify({"verifiableCredential": signed}), 201

    @bp.post("/credentials/verify")
    @require_scope("officer", "issuer", "auditor")
    def verify() -> Response:
        # The same body bytes again reuse their prepared form (VerificationService); the
        # checks that depend on time and trust run on every request, against the trust
        # that held when the request was received (or later).
        limit: int = current_app.config[MAX_REQUEST_BYTES]
        parsed = verification.prepare_request(
            json_body_bytes(), lambda data: _parse_verify_body(data, limit)
        )
        outcome = verification.verify(
            parsed.credential,
            now=clock(),
            at=optional_time(parsed.options.get("at"), "options.at"),
            prepared=parsed.prepared,
            fresh_since=received_at(),
        )
        return answers.response(outcome)

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
