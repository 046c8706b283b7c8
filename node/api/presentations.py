"""``POST /presentations/verify``: a trader's presentation for one consignment at a port.

200 when the presentation, its challenge and every credential and scan attestation in it
verified; 422 with the same result shape otherwise (every failed or unknown check says why);
400 when the request is not a presentation verification request at all. See
docs/presentations.md.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from credentials.errors import MalformedInputError
from node.api.common import Clock, json_body, member, require_scope
from node.services.presentations import PresentationService
from registry.challenges import check_challenge_format, check_consignment, check_port
from risk.identifiers import container_issue

__all__ = ["MAX_CONTAINERS", "MAX_MIN_WITNESSES", "make_blueprint"]

#: Most declared containers ``options.containers`` may list (as a declaration).
MAX_CONTAINERS = 999
#: Most witnesses each attestation's checkpoint may be asked for (as /attestations/verify).
MAX_MIN_WITNESSES = 16
# The declaration's rule for a transport document (bill of lading, air waybill).
_TRANSPORT_DOCUMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,34}\Z", re.ASCII)


def _bad_option(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_OPTIONS")


def _containers(options: dict[str, object]) -> tuple[str, ...]:
    raw = options.get("containers", [])
    if not isinstance(raw, list) or len(raw) > MAX_CONTAINERS:
        raise _bad_option(f"options.containers must be a list of at most {MAX_CONTAINERS} numbers")
    for index, value in enumerate(raw):
        issue = container_issue(value) if isinstance(value, str) else "must be a string"
        if issue is not None:
            raise _bad_option(f"options.containers[{index}] {issue}")
    return tuple(str(v) for v in raw)


def _transport_document(options: dict[str, object]) -> str | None:
    value = options.get("transportDocument")
    if value is None and "transportDocument" not in options:
        return None
    if not isinstance(value, str) or not _TRANSPORT_DOCUMENT.match(value):
        raise _bad_option("options.transportDocument must be 1-35 letters, digits, '.', '/' or '-'")
    return value


def _min_witnesses(options: dict[str, object]) -> int:
    value = options.get("minWitnesses", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_MIN_WITNESSES:
        raise _bad_option(
            f"options.minWitnesses must be a whole number from 0 to {MAX_MIN_WITNESSES}"
        )
    return value


def make_blueprint(*, presentations: PresentationService, clock: Clock) -> Blueprint:
    """The ``/presentations`` blueprint."""
    bp = Blueprint("presentations", __name__)

    @bp.post("/presentations/verify")
    @require_scope("officer")
    def verify_presentation() -> tuple[Response, int]:
        body = json_body()
        presentation = member(body, "verifiablePresentation", dict)
        options = member(body, "options", dict)
        challenge = check_challenge_format(member(options, "challenge", str))
        consignment = check_consignment(member(options, "consignment", str))
        port = check_port(member(options, "port", str))
        domain = member(options, "domain", str, required=False)
        if domain is not None and domain != presentations.domain:
            raise MalformedInputError(
                f"options.domain must be this node's origin ({presentations.domain}); "
                "presentations for other verifiers are not verified here",
                code="INVALID_OPTIONS",
            )
        outcome = presentations.verify(
            presentation,
            challenge=challenge,
            consignment=consignment,
            port=port,
            now=clock(),
            containers=_containers(options),
            transport_document=_transport_document(options),
            min_witnesses=_min_witnesses(options),
        )
        result = outcome.to_dict()
        result["consignment"] = consignment
        result["port"] = port
        return jsonify(result), 200 if outcome.verified else 422

    return bp
