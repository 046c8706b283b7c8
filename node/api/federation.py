"""``POST /federation/events``: signed pushes from peers (RFC 9421, no bearer token)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from credentials.strict_json import loads_object
from node.api.errors import ApiError
from node.federation.agreements import AgreementService
from node.federation.push import AGREEMENT_TAG, AGREEMENTS_PATH, PushService
from registry.http_signatures import RequestSignatureError

__all__ = ["make_blueprint"]

MAX_EVENT_BYTES = 16 * 1024
MAX_DOCUMENT_BYTES = 256 * 1024
# Events authenticate with an RFC 9421 signature, not a bearer token: say so in 401s.
_CHALLENGE = 'Signature realm="trustlane-federation", tag="trustlane-event"'
# Who sent it is in doubt: 401. It is signed by a peer but unacceptable: 400.
_UNAUTHENTICATED = {
    "MISSING_SIGNATURE",
    "BAD_SIGNATURE",
    "UNKNOWN_KEY",
    "KEY_NOT_FOR_REQUESTS",
    "ISSUER_MISMATCH",
    "UNRESOLVABLE_VERIFICATION_METHOD",
    "KEY_COMPROMISED",
}


def _refused(error: RequestSignatureError) -> ApiError:
    """401 when who sent the request is in doubt, 400 when a peer's request is unacceptable."""
    status = 401 if error.code in _UNAUTHENTICATED else 400
    return ApiError(status, error.code, error.message, challenge=_CHALLENGE)


def make_blueprint(*, push: PushService, agreements: AgreementService) -> Blueprint:
    """The ``/federation`` blueprint."""
    bp = Blueprint("federation", __name__)

    @bp.post("/federation/events")
    def receive_event() -> tuple[Response, int]:
        data = request.stream.read(MAX_EVENT_BYTES + 1)
        if len(data) > MAX_EVENT_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"events are at most {MAX_EVENT_BYTES} bytes")
        try:
            accepted = push.receive(headers=dict(request.headers), body=data)
        except RequestSignatureError as e:
            raise _refused(e) from e
        return jsonify({"accepted": True, "id": accepted.event.id}), 202

    @bp.get("/federation/agreements/<path:agreement_id>")
    def agreement_state(agreement_id: str) -> Response:
        # What this node holds of one agreement, for the other party's sync job: the
        # document and, if given, the termination notice. Both are signed by the parties
        # and verified by the reader; the id is an unguessable urn:uuid.
        record = agreements.get(agreement_id)
        body: dict[str, object] = {
            "state": record.state,
            "agreement": loads_object(record.document),
        }
        if record.termination_notice is not None:
            body["terminationNotice"] = loads_object(record.termination_notice)
        return jsonify(body)

    @bp.post("/federation/agreements")
    def receive_agreement_document() -> tuple[Response, int]:
        # A peer delivers an MRA proposal, a countersigned MRA or a termination notice.
        data = request.stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"at most {MAX_DOCUMENT_BYTES} bytes")
        try:
            sender = push.verify_peer_request(
                headers=dict(request.headers), body=data, path=AGREEMENTS_PATH, tag=AGREEMENT_TAG
            )
        except RequestSignatureError as e:
            raise _refused(e) from e
        document = loads_object(data, max_bytes=MAX_DOCUMENT_BYTES)
        state = agreements.receive_from_peer(document, sender=sender)
        return jsonify({"accepted": True, "state": state}), 202

    return bp
