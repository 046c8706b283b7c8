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

import functools
from datetime import datetime, timedelta
from typing import NamedTuple

from credentials.common_shape import prepare_common
from credentials.data_integrity import (
    DEFAULT_CLOCK_SKEW,
    PreparedProofs,
    ProofOutcome,
    VerificationMethodResolver,
    check_asserted_proofs,
    prepare_proofs,
)
from credentials.datetimes import require_aware, shift
from credentials.errors import MalformedInputError, VerificationError
from credentials.model import VerifiableCredential
from credentials.result import Check, VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject

__all__ = [
    "PreparedCredential",
    "check_prepared_credential",
    "get_credential_verification_result",
    "prepare_credential",
    "proof_check",
    "verify_credential",
]

_CONFORMS = Check.passed("data_model", "conforms to VC Data Model 2.0")
_ONE_PROOF_VERIFIED = Check.passed("proof", "1/1 proofs verified")


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
            return _issuer_controls(credential.issuer, outcome.method.id)
    if any(o.unknown for o in outcomes) and not any(o.verified for o in outcomes):
        return Check.unknown("issuer", "ISSUER_UNKNOWN", "the issuer's key could not be checked")
    return _issuer_mismatch(credential)


@functools.lru_cache(maxsize=1024)
def _issuer_controls(issuer: str, method_id: str) -> Check:
    # Cached by the two strings: the same issuer and key recur, and the detail text is
    # longer to build and hash than the pair.
    return Check.passed("issuer", f"{issuer} controls {method_id} (assertionMethod)")


def _issuer_mismatch(credential: VerifiableCredential) -> Check:
    return Check.failed(
        "issuer",
        "ISSUER_MISMATCH",
        f"no verified proof was made with a key controlled by the issuer {credential.issuer}",
    )


def _validity_check(credential: VerifiableCredential, now: datetime, latest: datetime) -> Check:
    # ``latest`` is shift(now, clock skew): the latest validFrom accepted.
    valid_from, valid_until = credential.valid_from, credential.valid_until
    if valid_from is not None and latest < valid_from:
        return Check.failed("validity", "NOT_YET_VALID", f"valid from {valid_from.isoformat()}")
    if valid_until is not None and now >= valid_until:
        return Check.failed("validity", "EXPIRED", f"expired at {valid_until.isoformat()}")
    # A constant detail: formatting ``now`` would cost more than the check itself.
    return Check.passed("validity", "within validFrom/validUntil at the reference time")


class PreparedCredential(NamedTuple):
    """A credential after the steps that depend only on its bytes (:func:`prepare_credential`).

    Immutable (a named tuple) and safe to share between threads and verifications: the
    checks that depend on time and trust are made from it by
    :func:`check_prepared_credential`, every time.

    Attributes:
        data_model: The ``data_model`` check (passed, or failed with the rule broken).
        document: The credential as parsed (read only: it may be shared).
        credential: The parsed credential when the data model check passed, else None.
        proofs: The statically prepared proofs (None when the data model check failed).

    """

    data_model: Check
    document: JSONObject
    credential: VerifiableCredential | None = None
    proofs: PreparedProofs | None = None


def prepare_credential(document: JSONObject) -> PreparedCredential:
    """The static phase of :func:`get_credential_verification_result`.

    Step 1 (VC 2.0 data model with the JSON-LD checks) and the static part of step 2 (per
    proof: type and cryptosuite, proofValue, previousProof, @context prefix, the exact bytes
    the signature signs; :func:`credentials.data_integrity.prepare_proofs`). A failure is
    kept in the result: it is as much a function of the bytes as a success.

    Args:
        document: The credential, parsed with :func:`credentials.strict_json.loads`; it must
            not be changed afterwards (the prepared form refers to it).

    Returns:
        The prepared credential.

    """
    # The common shape, when every check surely passes: the same values, fewer steps.
    common = prepare_common(document)
    if common is not None:
        return PreparedCredential(_CONFORMS, document, common[0], common[1])
    try:
        credential = VerifiableCredential.from_dict(document)
    except MalformedInputError as e:
        return PreparedCredential(Check.failed("data_model", e.code, e.message), document)
    proofs = prepare_proofs(document, plain=credential.plain_json)
    return PreparedCredential(_CONFORMS, document, credential, proofs)


def check_prepared_credential(
    prepared: PreparedCredential,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    signature_cache: SignatureCache | None = None,
) -> VerificationResult:
    """The dynamic phase of :func:`get_credential_verification_result` (never raises).

    Step 2's checks against ``now`` and the resolver (purpose, created, expires, key
    resolution and authorisation, the Ed25519 check), step 3 (issuer binding) and step 4
    (validity at ``now``). Reads ``prepared`` and never changes it.

    Args:
        prepared: From :func:`prepare_credential`.
        resolver: Where verification methods come from (asked every time).
        now: The reference time (aware), fixed once per request.
        clock_skew: Tolerance for ``validFrom`` and ``created`` in the future.
        signature_cache: Ed25519 checks that passed before; only the signature check itself
            is skipped on a hit (:mod:`credentials.signature_cache`).

    Returns:
        The same result :func:`get_credential_verification_result` gives for the document.

    """
    now = require_aware(now)
    credential, proofs = prepared.credential, prepared.proofs
    if credential is None or proofs is None:
        return VerificationResult((prepared.data_model,))
    # Computed once: the latest proof ``created`` and credential ``validFrom`` accepted.
    latest = shift(now, clock_skew)
    # Step 2: Data Integrity proofs (credentials are asserted: assertionMethod).
    checked = check_asserted_proofs(
        proofs,
        resolver=resolver,
        now=now,
        clock_skew=clock_skew,
        latest_created=latest,
        signature_cache=signature_cache,
    )
    # Step 3: issuer binding (with the proof summary of step 2).
    if isinstance(checked, list):
        proof = proof_check(checked)
        issuer = _issuer_check(credential, checked)
    else:
        # The one proof verified with the method ``checked``: what proof_check and
        # _issuer_check say of that single verified outcome.
        proof = _ONE_PROOF_VERIFIED
        issuer = (
            _issuer_controls(credential.issuer, checked.id)
            if checked.controller == credential.issuer
            else _issuer_mismatch(credential)
        )
    return VerificationResult._of(
        (
            prepared.data_model,
            proof,
            issuer,
            # Step 4: validity period.
            _validity_check(credential, now, latest),
        )
    )


def get_credential_verification_result(
    document: JSONObject,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    signature_cache: SignatureCache | None = None,
) -> VerificationResult:
    """Verify a credential and report every check; never raises.

    The static phase (:func:`prepare_credential`: what the document's bytes decide) then the
    dynamic one (:func:`check_prepared_credential`: time, keys and trust). A caller that
    verifies the same bytes often may keep the prepared form
    (:class:`credentials.prepared.PreparedCache`) and run only the dynamic phase.

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
    return check_prepared_credential(
        prepare_credential(document),
        resolver=resolver,
        now=now,
        clock_skew=clock_skew,
        signature_cache=signature_cache,
    )


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
