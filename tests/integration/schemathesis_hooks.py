"""schemathesis hooks for test_schemathesis.py: why a schema-valid request may be refused.

schemathesis' ``positive_data_acceptance`` check wants every request that matches the OpenAPI
document accepted. The document states every rule of the node that a JSON Schema can state
(see test_openapi_strict.py), but not those that depend on this node's identity, on stored
state, on the clock, on other members or on signatures. ``schemathesis.toml`` lets the
operations below answer 400/422 to schema-valid requests; the check here then insists that
the refusal names one of the reasons listed for the operation (problem ``code`` plus a pattern
for ``detail``, or for every ``errors[].message`` of a ``SCHEMA_VALIDATION_ERROR``). Any
other refusal of a schema-valid request fails the run, as an unexplained ST202 would.

Loaded by ``st run`` through ``SCHEMATHESIS_HOOKS`` (never imported by pytest).
"""

from __future__ import annotations

import json
import re
from typing import Any

import schemathesis

# (HTTP status, problem code or None for a VerificationResult, regex the detail must match)
Reason = tuple[int, str | None, str]

# Rules of an agreement subject that no schema states (registry/_mra_schema._rule_errors).
MRA_RULES = (
    r"must be one of the parties \(got .*\)",
    r"must differ from recognisingParty",
    r"repeats the direction of an earlier recognition",
    r"repeats '.*'",
    r"must be after effectiveFrom",
)
_NODE_ISSUER = r"issuer must be this node \(did:web:[^)]+\) or its did:key \(did:key:[^)]+\)"
_NOT_VERIFIED: Reason = (422, None, "")
# JSON-LD processing (docs/conformance.md): what an inline context defines or redefines,
# which types and names it leaves undefined, and (no schema says "unique ids" or "the bytes
# hash to") related resources' ids and digests.
JSONLD_REASONS: tuple[Reason, ...] = tuple(
    (400, code, r".*")
    for code in (
        "JSONLD_TERM_UNDEFINED",
        "JSONLD_PROTECTED_TERM",
        "JSONLD_INVALID",
        "INVALID_TYPE",
        "INVALID_RELATED_RESOURCE",
        "DIGEST_MISMATCH",
    )
)

REASONS: dict[str, tuple[Reason, ...]] = {
    # Stored state: only a code this node issued (with its PIN) buys an access token.
    "POST /token": ((400, "invalid_grant", r"unknown pre-authorized_code"),),
    "POST /credentials/issue": (
        *JSONLD_REASONS,
        (400, "INVALID_ISSUER", _NODE_ISSUER),  # this node's own DIDs
        (400, "DUPLICATE_ID", r"credential id .* is already used"),  # stored state
        (400, "INVALID_CREDENTIAL", r"validUntil is before validFrom"),  # default: now
        (400, "INVALID_CREDENTIAL", r"credential types are longer than 400 characters in all"),
        # Caller-supplied credentialStatus: rules no schema states (docs/conformance.md).
        (400, "MALFORMED_VALUE", r"credentialStatus: statusMessage status \S+ is repeated .*"),
        (400, "MALFORMED_VALUE", r"credentialStatus: statusMessage is required when .*"),
        (400, "MALFORMED_VALUE", r"credentialStatus: credentialStatus id must not be .*"),
        (400, "MALFORMED_VALUE", r"credentialStatus names a status list of this node; .*"),
        (400, "MALFORMED_VALUE", r"an AEOCertificate carries only the node's own status .*"),
    ),
    "POST /aeo-credentials": (
        *JSONLD_REASONS,  # member names and types are checked against the contexts
        (400, "INVALID_ISSUER", _NODE_ISSUER),
        # validFrom defaults to now, validUntil to validFrom + the node's validity period.
        (400, "INVALID_CREDENTIAL", r"valid_until \(\S+\) must be after valid_from \(\S+\)"),
    ),
    "POST /credentials/verify": (
        _NOT_VERIFIED,  # a documented outcome, not a refusal: the credential did not verify
        (400, "INVALID_OPTIONS", r"'at' \(\S+\) is in the future; ask about now or the past"),
    ),
    "POST /presentations/verify": (
        _NOT_VERIFIED,  # not verified: no schema-generated presentation signs a live challenge
        # Only this node's own origin is a domain it verifies for.
        (400, "INVALID_OPTIONS", r"options\.domain must be this node's origin \(\S+\); .*"),
        # ISO 6346 check digits (as in a declaration's containers).
        (400, "INVALID_OPTIONS", r"options\.containers\[\d+\] check digit is \d, expected \d"),
    ),
    "POST /registry/peers": (
        # The base URL's own rules (https, an origin, loopback only from loopback) and that
        # the did:web names it; the node itself; keys that decode to no Ed25519 point.
        (400, "INVALID_PEER", r"peer base URL .*|did:web:\S* is not the did:web of .*"),
        (400, "INVALID_PEER", r"a node cannot be its own peer"),
        (400, "DUPLICATE_PEER", r".*"),  # stored state
        (400, "INVALID_KEY", r".*"),
    ),
    "POST /registry/peers/{name}/repin": ((400, "INVALID_KEY", r".*"),),
    "POST /devices": (
        # validUntil defaults to a year from now, and must be after now; stored state; keys
        # that decode to no Ed25519 point.
        (400, "INVALID_VALIDITY", r"the authorisation must end after it starts"),
        (400, "DEVICE_EXISTS", r"a device \S+ is already registered"),
        (400, "INVALID_KEY", r".*"),
    ),
    # The log's size is stored state: a proof for a tree the log does not hold yet.
    "GET /log/proof/inclusion": (
        (400, "LOG_RANGE", r"the log has \d+ entries, not \d+|entry \d+ is not in a tree .*"),
        # One of index and id is needed: no parameter schema says "one of".
        (400, "INVALID_QUERY", r"query parameter index must be a whole number"),
    ),
    "GET /log/proof/consistency": (
        (400, "LOG_RANGE", r"the log has \d+ entries, not \d+|no consistency proof from .*"),
    ),
    # The C2SP add-checkpoint body is a text protocol (old size, proof lines, a signed note),
    # and only a trusted partner's log signature makes it acceptable.
    "POST /add-checkpoint": (
        (400, "MALFORMED_WITNESS_REQUEST", r".*"),
        (403, "BAD_LOG_SIGNATURE", r".*"),
        (404, "UNKNOWN_LOG", r".*"),
        (422, "INCONSISTENT_CHECKPOINT", r".*"),
    ),
    # A scan attestation is a VC 2.0 credential (data model rules), signed by a registered
    # device's key over its exact content: no schema-generated body carries such a proof.
    "POST /scans": tuple(
        (status, code, r".*")
        for status, code in (
            (400, "INVALID_CONTEXT"),
            (400, "JSONLD_CONTEXT_UNKNOWN"),
            (400, "INVALID_CREDENTIAL"),
            (400, "INVALID_ISSUER"),
            (400, "INVALID_ATTESTATION"),
            (400, "INVALID_DEVICE"),
            (400, "INVALID_MODALITY"),
            (400, "INVALID_SITE"),
            (400, "INVALID_CONTAINER_NUMBER"),
            (400, "INVALID_DATETIME"),
            (400, "MALFORMED_INPUT"),
            (400, "WRONG_TYPE"),
            (400, "INVALID_KEY"),
            (422, "DEVICE_PROOF"),
        )
    )
    + JSONLD_REASONS,
    "POST /risk/assess": (
        # The declaration's value rules (ISO 6346 check digits, HS chapters 00 and 77, party
        # identifiers per scheme, control characters, repeated identifiers) and Python's
        # reading of the schema's patterns: a 422 naming each problem.
        (422, "SCHEMA_VALIDATION_ERROR", r"(?s).*"),
        # The presentation counts only for the declaration's consignment, at its port of
        # discharge, for this node; JSON Schema counts 1.0 as an integer.
        (400, "INVALID_OPTIONS", r"presentation\.options\.(?:consignment|port) must be the .*"),
        (400, "INVALID_OPTIONS", r"presentation\.options\.domain must be this node's origin .*"),
        (400, "INVALID_OPTIONS", r"attestations\[\d+\]\.options\.minWitnesses must be .*"),
    ),
    "POST /identifiers": (
        # Each scheme's own shape (EORI, MID, CTPAT, LEI) and a link of an identifier to
        # itself; a link already stored is a documented 409.
        (400, "INVALID_PARTY_IDENTIFIER", r".*"),
        (400, "INVALID_LINK", r".* cannot be linked to itself"),
    ),
    "POST /mras": (
        *JSONLD_REASONS,  # member names and types are checked against the contexts
        (400, "SCHEMA_VALIDATION_ERROR", "|".join(MRA_RULES)),
        # JSON Schema counts 456.0 as an integer; the node wants an integer literal.
        (400, "INVALID_MEMBER", r"'noticePeriodDays' must be int"),
    ),
    "POST /mras/receive": (
        *JSONLD_REASONS,  # member names and types are checked against the contexts
        # That the issuer (the proposer) is a party, that the dates repeat the subject's,
        # the subject's own rules, and that this node is a party: no schema states them.
        (400, "SCHEMA_VALIDATION_ERROR", "|".join(MRA_RULES)),
        (400, "INVALID_ISSUER", r"the issuer must be one of the parties \(the proposer\)"),
        (400, "INVALID_MRA", r"validFrom/validUntil must equal effectiveFrom/effectiveUntil"),
        (400, "NOT_A_PARTY", r"this node \(did:web:\S+\) is not a party to .*"),
        # Signatures: only the parties' keys can make a proof that verifies.
        (422, "MRA_PROOF_INVALID", r".*"),
        (422, "MRA_UNEXPECTED_SIGNER", r".*"),
        (422, "MRA_SIGNATURE_MISSING", r".*"),
    ),
}


def _problem(body: Any) -> tuple[str | None, str, list[str]]:
    if not isinstance(body, dict):
        return None, "", []
    if "error" in body and "code" not in body:  # the OAuth error shape (RFC 6749 §5.2)
        return str(body["error"]), str(body.get("error_description", "")), []
    errors = body.get("errors")
    messages = [str(e.get("message", "")) for e in (errors if isinstance(errors, list) else [])]
    return body.get("code"), str(body.get("detail", "")), messages


def _explained(status: int, body: Any, reasons: tuple[Reason, ...]) -> bool:
    code, detail, messages = _problem(body)
    for want_status, want_code, pattern in reasons:
        if status != want_status:
            continue
        if want_code is None:
            if isinstance(body, dict) and body.get("verified") is False:
                return True
            continue
        if code != want_code:
            continue
        if code == "SCHEMA_VALIDATION_ERROR":
            if messages and all(re.fullmatch(pattern, m) for m in messages):
                return True
        elif re.fullmatch(pattern, detail, re.DOTALL):
            return True
    return False


@schemathesis.check
def refused_only_for_reasons_the_schema_cannot_state(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A schema-valid request answered 400/422 must name a reason listed in REASONS."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if case.method.upper() != case.operation.method.upper() or response.status_code not in (
        400,
        422,
    ):
        return None
    reasons = REASONS.get(case.operation.label)
    if reasons is None:
        return None  # positive_data_acceptance already refuses 400/422 here
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not _explained(response.status_code, body, reasons):
        raise AssertionError(
            f"a schema-valid request to {case.operation.label} was refused for a reason the "
            f"document could state (or that is not listed in schemathesis_hooks.REASONS): "
            f"{response.status_code} {response.content[:600]!r}"
        )
    return True
