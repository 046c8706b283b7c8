"""Credential verification: data model, proofs, issuer binding and validity.

The workflow is fixed and numbered (VC Data Model 2.0 §7.1 "Verification", Data Integrity
§4.5): (1) data model, (2) proofs, (3) issuer controls a verified proof's key, listed for
``assertionMethod``, (4) validity period at ``now``. Each step adds one named check to a
:class:`~credentials.result.VerificationResult`. Later layers (status, recognition, holder,
challenge) append their checks to the same result.

Pure: the caller passes the document, a key resolver and ``now``.

Example:
    >>> from datetime import UTC, datetime
    >>> from credentials.data_integrity import DIDKeyResolver
    >>> result = get_credential_verification_result(
    ...     {"proof": {}}, resolver=DIDKeyResolver(), now=datetime.now(UTC))
    >>> result.verified
    False

"""

from __future__ import annotations

from datetime import datetime, timedelta

from credentials.data_integrity import (
    DEFAULT_CLOCK_SKEW,
    ProofOutcome,
    VerificationMethodResolver,
    get_proof_outcomes,
)
from credentials.datetimes import require_aware, shift
from credentials.errors import MalformedInputError, VerificationError
from credentials.model import VerifiableCredential
from credentials.result import Check, VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject

__all__ = ["get_credential_verification_result", "proof_check", "verify_credential"]


def proof_check(outcomes: list[ProofOutcome]) -> Check:
    """Summarise proof outcomes as the ``proof`` check.

    Any failed proof fails the check; otherwise any undecidable proof makes it unknown.
    """
    good = 0
    failed: ProofOutcome | None = None
    unknown: ProofOutcome | None = None
    for outcome in outcomes:
        if outcome.verified:
            good += 1
        elif outcome.unknown:
            unknown = unknown or outcome
        else:
            failed = failed or outcome
    counts = f"{good}/{len(outcomes)} proofs verified"
    culprit = failed or unknown
    if culprit is None:
        return Check.passed("proof", counts)
    error = culprit.error
    code = error.code if error else "PROOF_VERIFICATION_ERROR"
    detail = f"{counts}; proof {culprit.index}: {error.message if error else 'not verified'}"
    if failed is not None:
        return Check.failed("proof", code, detail)
    return Check.unknown("proof", code, detail)


def _issuer_check(credential: VerifiableCredential, outcomes: list[ProofOutcome]) -> Check:
    # VC 2.0 §7.1: the issuer must control the key of a verified assertionMethod proof.
    for outcome in outcomes:
        if outcome.verified and outcome.method and outcome.method.controller == credential.issuer:
            return Check.passed(
                "issuer", f"{credential.issuer} controls {outcome.method.id} (assertionMethod)"
            )
    if any(o.unknown for o in outcomes) and not any(o.verified for o in outcomes):
        return Check.unknown("issuer", "ISSUER_UNKNOWN", "the issuer's key could not be checked")
    return Check.failed(
        "issuer",
        "ISSUER_MISMATCH",
        f"no verified proof was made with a key controlled by the issuer {credential.issuer}",
    )


def _validity_check(credential: VerifiableCredential, now: datetime, skew: timedelta) -> Check:
    valid_from, valid_until = credential.valid_from, credential.valid_until
    if valid_from is not None and shift(now, skew) < valid_from:
        return Check.failed("validity", "NOT_YET_VALID", f"valid from {valid_from.isoformat()}")
    if valid_until is not None and now >= valid_until:
        return Check.failed("validity", "EXPIRED", f"expired at {valid_until.isoformat()}")
    # A constant detail: formatting ``now`` would cost more than the check itself.
    return Check.passed("validity", "within validFrom/validUntil at the reference time")


def get_credential_verification_result(
    document: JSONObject,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    signature_cache: SignatureCache | None = None,
) -> VerificationResult:
    """Verify a credential and report every check; never raises.

    Args:
        document: The credential, parsed with :func:`credentials.strict_json.loads`.
        resolver: Where verification methods come from.
        now: The reference time (aware), fixed once per request.
        clock_skew: Tolerance for ``validFrom`` and ``created`` in the future.
        signature_cache: Ed25519 checks that passed before; only the signature check itself
            is skipped on a hit, every other step runs (:mod:`credentials.signature_cache`).

    Returns:
        The result, with checks ``data_model``, ``proof``, ``issuer`` and ``validity`` (only
        ``data_model`` when the document is not a credential).

    """
    now = require_aware(now)
    # Step 1: VC 2.0 data model.
    try:
        credential = VerifiableCredential.from_dict(document)
    except MalformedInputError as e:
        return VerificationResult((Check.failed("data_model", e.code, e.message),))
    checks = [Check.passed("data_model", "conforms to VC Data Model 2.0")]
    # Step 2: Data Integrity proofs (credentials are asserted: assertionMethod).
    outcomes = get_proof_outcomes(
        document,
        resolver=resolver,
        expected_purpose="assertionMethod",
        now=now,
        clock_skew=clock_skew,
        signature_cache=signature_cache,
    )
    checks.append(proof_check(outcomes))
    # Step 3: issuer binding.
    checks.append(_issuer_check(credential, outcomes))
    # Step 4: validity period.
    checks.append(_validity_check(credential, now, clock_skew))
    return VerificationResult(tuple(checks))


def verify_credential(
    document: JSONObject,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> VerificationResult:
    """Verify a credential; raise unless every check passes.

    Returns:
        The (verified) result.

    Raises:
        VerificationError: Some check failed or was unknown; the message lists them.

    """
    result = get_credential_verification_result(
        document, resolver=resolver, now=now, clock_skew=clock_skew
    )
    if not result.verified:
        summary = "; ".join(f"{e.check}: {e.message}" for e in result.errors)
        raise VerificationError(f"credential not verified: {summary}", code=result.errors[0].code)
    return result
