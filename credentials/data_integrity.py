"""W3C Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite.

Creates and verifies single proofs, proof sets and proof chains (``previousProof``) following
W3C *Data Integrity EdDSA Cryptosuites v1.0* §3.3 (eddsa-jcs-2022) and *Verifiable Credential
Data Integrity 1.0* §4 (add and verify proof sets and chains). Verification also accepts
``eddsa-rdfc-2022`` proofs (§3.4), hashed by :mod:`credentials.eddsa_rdfc`; proofs are only
ever created with ``eddsa-jcs-2022``. The steps that depend only on the document's bytes are
in :mod:`credentials.proof_prepare` (re-exported here).

This module checks proofs, not credentials: it knows nothing of issuers, validity periods or
status. It does no I/O and never reads the clock; keys come from a
:class:`VerificationMethodResolver` and ``now`` from the caller.

Example:
    >>> from credentials.keys import PrivateKey
    >>> key = PrivateKey.generate()
    >>> doc = {"@context": ["https://www.w3.org/ns/credentials/v2"], "name": "x"}
    >>> opts = ProofOptions(verification_method=key.public_key.verification_method_id)
    >>> signed = add_proof(doc, key, opts)
    >>> [o.verified for o in get_proof_outcomes(signed, resolver=DIDKeyResolver())]
    [True]

"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from credentials.datetimes import format_datetime, require_aware, shift
from credentials.errors import (
    InvalidKeyError,
    InvalidProofError,
    InvalidSignatureError,
    MalformedInputError,
    UnresolvableVerificationMethodError,
    VerificationError,
)
from credentials.keys import (
    PrivateKey,
    PublicKey,
    b58encode,
    public_key_from_verification_method,
)
from credentials.proof_prepare import (
    _BODY,
    _CREATED,
    _EXPIRES,
    _HASH,
    _PURPOSE,
    CRYPTOSUITE,
    MAX_PROOFS,
    PROOF_TYPE,
    VERIFIABLE_SUITES,
    PreparedProof,
    PreparedProofs,
    ProofOutcome,
    ResolvedVerificationMethod,
    _hash_data,
    _input_document,
    _matching_proofs,
    prepare_proofs,
    proofs_of,
)
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject, JSONValue

__all__ = [
    "CRYPTOSUITE",
    "MAX_PROOFS",
    "PROOF_TYPE",
    "VERIFIABLE_SUITES",
    "DIDKeyResolver",
    "PreparedProof",
    "PreparedProofs",
    "ProofOptions",
    "ProofOutcome",
    "ResolvedVerificationMethod",
    "VerificationMethodResolver",
    "add_proof",
    "check_asserted_proofs",
    "check_prepared_proofs",
    "get_proof_outcomes",
    "prepare_proofs",
    "proofs_of",
]

_NEW_TUPLE = tuple.__new__

# Allowance for clocks that run ahead of ours when checking ``created``.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

_DID_KEY_RELATIONSHIPS = frozenset(
    {"authentication", "assertionMethod", "capabilityDelegation", "capabilityInvocation"}
)


class VerificationMethodResolver(Protocol):
    """Finds the key a proof's ``verificationMethod`` names."""

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        """Resolve ``vm_id`` (as valid at ``at`` when given).

        Raises:
            UnresolvableVerificationMethodError: The method cannot be resolved here.
            InvalidKeyError: The identifier or key is malformed.

        """
        ...


class DIDKeyResolver:
    """Resolves ``did:key`` Ed25519 verification methods; nothing else."""

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        """Resolve a did:key verification method (keys of did:key never expire).

        Raises:
            UnresolvableVerificationMethodError: ``vm_id`` is not a did:key URL.
            InvalidKeyError: The did:key is malformed or not Ed25519.

        """
        if not vm_id.startswith("did:key:"):
            raise UnresolvableVerificationMethodError(
                f"cannot resolve {vm_id!r}: only did:key is resolvable offline"
            )
        return _resolve_did_key_method(vm_id)


@functools.lru_cache(maxsize=4096)
def _resolve_did_key_method(vm_id: str) -> ResolvedVerificationMethod:
    # Cached: decoding and point validation cost as much as a signature check. Only
    # successful resolutions are cached (lru_cache does not cache exceptions).
    key = public_key_from_verification_method(vm_id)
    return ResolvedVerificationMethod(
        id=key.verification_method_id,
        controller=key.did,
        public_key=key,
        relationships=_DID_KEY_RELATIONSHIPS,
    )


@dataclass(frozen=True)
class ProofOptions:
    """Options for creating one proof.

    Attributes:
        verification_method: URL of the key that signs.
        proof_purpose: ``assertionMethod`` for credentials, ``authentication`` for
            presentations.
        created: When the proof is made (aware); omitted from the proof when None.
        expires: When the proof stops being acceptable (aware), or None.
        id: Proof id (needed when another proof will chain to this one).
        previous_proof: Id(s) of proofs this one chains to; a str keeps the string form.
        challenge: Verifier-supplied challenge to bind to.
        domain: Verifier-supplied domain to bind to.

    """

    verification_method: str
    proof_purpose: str = "assertionMethod"
    created: datetime | None = None
    expires: datetime | None = None
    id: str | None = None
    previous_proof: str | tuple[str, ...] | None = None
    challenge: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        for value in (self.created, self.expires):
            if value is not None:
                require_aware(value)
        if not self.verification_method:
            raise ValueError("verification_method is required")


def add_proof(document: JSONObject, key: PrivateKey, options: ProofOptions) -> JSONObject:
    """Return a copy of ``document`` with one more ``eddsa-jcs-2022`` proof.

    A document without proofs gets a single proof object; otherwise the proof joins a proof
    set (a list). With ``options.previous_proof`` the new proof also signs the proofs it names
    (a proof chain).

    Args:
        document: The document (unsecured, or secured already).
        key: The signing key.
        options: The proof options.

    Returns:
        A new document; ``document`` is not modified.

    Raises:
        MalformedInputError: The document's existing proofs are malformed.
        InvalidProofError: A ``previous_proof`` id is not in the document, or ``options.id``
            is already used.
        InvalidKeyError: The verification method is a did:key for another key.

    """
    existing = proofs_of(document)
    if options.verification_method.startswith("did:key:"):
        named = PublicKey.from_did_key(options.verification_method)
        if named != key.public_key:
            raise InvalidKeyError("the verification method names a different key than the signer")
    if options.id is not None and any(p.get("id") == options.id for p in existing):
        raise InvalidProofError(f"proof id {options.id!r} is already used in this document")

    # vc-di-eddsa §3.3.1 Create Proof, step 1: the proof starts as a copy of the options.
    proof: JSONObject = {"type": PROOF_TYPE}
    if options.id is not None:
        proof["id"] = options.id
    proof["cryptosuite"] = CRYPTOSUITE
    if options.created is not None:
        proof["created"] = format_datetime(options.created)
    if options.expires is not None:
        proof["expires"] = format_datetime(options.expires)
    proof["verificationMethod"] = options.verification_method
    proof["proofPurpose"] = options.proof_purpose
    if options.challenge is not None:
        proof["challenge"] = options.challenge
    if options.domain is not None:
        proof["domain"] = options.domain
    matching: list[JSONValue] = []
    if options.previous_proof is not None:
        ids = (
            [options.previous_proof]
            if isinstance(options.previous_proof, str)
            else list(options.previous_proof)
        )
        matching = _matching_proofs(ids, existing)
        proof["previousProof"] = (
            options.previous_proof
            if isinstance(options.previous_proof, str)
            else list(options.previous_proof)
        )
    # Step 2 (Proof Configuration): the proof carries the document's @context.
    if "@context" in document:
        proof["@context"] = document["@context"]

    # Steps 3-5: transform (JCS), hash, sign; proofValue is base58btc multibase.
    signature = key.sign(_hash_data(_input_document(document, matching), proof))
    signed_proof = {**proof, "proofValue": "z" + b58encode(signature)}

    secured = dict(document)
    secured["proof"] = [*existing, signed_proof] if existing else signed_proof
    return secured


class _Expectations(NamedTuple):
    """What the verifier requires of every proof, fixed once per document."""

    resolver: VerificationMethodResolver
    purpose: str | None
    now: datetime | None
    latest_created: datetime | None
    challenge: str | None
    domain: str | None
    signature_cache: SignatureCache | None = None


def _check_one(p: PreparedProof, expect: _Expectations) -> ResolvedVerificationMethod | None:
    """The dynamic steps for one proof: raise on failure; None when a static step failed.

    The order is the one of vc-di-eddsa §3.3.2 with the options first: (2) purpose, created,
    expires, challenge, domain; (6) key resolution and purpose authorisation; (7) Ed25519.
    """
    stage = p.failed_at
    if stage <= _PURPOSE:
        return None
    if expect.purpose is not None and p.purpose != expect.purpose:
        raise InvalidProofError(
            f"proof purpose is {p.purpose!r}, expected {expect.purpose!r}",
            code="INVALID_PROOF_PURPOSE",
        )
    if stage == _CREATED:
        return None
    created = p.created
    if created is not None and expect.latest_created is not None:
        if created > expect.latest_created:
            raise InvalidProofError("proof created is in the future", code="PROOF_NOT_YET_VALID")
    if stage == _EXPIRES:
        return None
    if p.expires is not None and expect.now is not None and expect.now >= p.expires:
        raise InvalidProofError("proof has expired", code="PROOF_EXPIRED")
    # vc-data-integrity §4.3 steps on challenge and domain, when the verifier expects them.
    if expect.challenge is not None:
        got = p.challenge
        wanted = expect.challenge.encode()
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), wanted):
            raise InvalidProofError("proof challenge does not match", code="INVALID_CHALLENGE")
    if expect.domain is not None and expect.domain not in p.domains:
        raise InvalidProofError("proof domain does not match", code="INVALID_DOMAIN")
    if stage == _BODY:
        return None
    # Resolution runs every time: a key compromised, retired or no longer trusted since the
    # last verification is refused here, before any cached signature result is consulted.
    method = expect.resolver.resolve_verification_method(p.vm_id, at=created)
    if p.purpose not in method.relationships:
        raise InvalidProofError(
            f"verification method {p.vm_id!r} is not authorised for {p.purpose}",
            code="INVALID_PROOF_PURPOSE",
        )
    if stage == _HASH:
        return None
    try:
        if expect.signature_cache is None:
            method.public_key.verify(p.signature, p.hashed)
        else:
            # Keyed by (public key, signature, exact hashed bytes): a hit skips only the
            # Ed25519 step; every step above ran for this proof just now.
            expect.signature_cache.verify(method.public_key, p.signature, p.hashed)
    except InvalidSignatureError as e:
        raise InvalidProofError(f"signature does not verify: {e.message}") from e
    return method


def check_prepared_proofs(
    prepared: PreparedProofs,
    *,
    resolver: VerificationMethodResolver,
    expected_purpose: str | None = "assertionMethod",
    now: datetime | None = None,
    challenge: str | None = None,
    domain: str | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    signature_cache: SignatureCache | None = None,
) -> list[ProofOutcome]:
    """The dynamic phase of :func:`get_proof_outcomes` (same arguments; never raises).

    Reads ``prepared`` and never changes it, so one prepared document may be checked by many
    threads at once.

    Returns:
        One outcome per proof, in document order.

    """
    if now is not None:
        now = require_aware(now)
    if prepared.fixed is not None:
        return [prepared.fixed]
    # Positional: a named tuple is built faster so (the order is the class's).
    expect = _Expectations(
        resolver,
        expected_purpose,
        now,
        None if now is None else shift(now, clock_skew),
        challenge,
        domain,
        signature_cache,
    )
    outcomes = []
    for p in prepared.proofs:
        try:
            method = _check_one(p, expect)
        except (VerificationError, MalformedInputError) as e:
            outcomes.append(ProofOutcome(p.number, p.proof, False, error=e))
        else:
            if method is None:
                outcomes.append(ProofOutcome(p.number, p.proof, False, error=p.error))
            else:
                outcomes.append(ProofOutcome(p.number, p.proof, True, method=method))
    return outcomes


def check_asserted_proofs(
    prepared: PreparedProofs,
    *,
    resolver: VerificationMethodResolver,
    now: datetime,
    clock_skew: timedelta,
    latest_created: datetime,
    signature_cache: SignatureCache | None = None,
) -> ResolvedVerificationMethod | list[ProofOutcome]:
    """:func:`check_prepared_proofs` for a credential, in its usual case without a list.

    The dynamic phase with ``expected_purpose="assertionMethod"``, no challenge and no
    domain, ``now`` aware and ``latest_created`` = ``shift(now, clock_skew)`` (the caller
    has both already). When the document has exactly one proof and it verifies, the result
    is the verification method that verified it, and no outcome is built (the caller's
    summary of one verified outcome needs nothing else); otherwise, exactly the outcomes
    :func:`check_prepared_proofs` gives. Either way each step runs once per proof, the key
    resolution included. Never raises.
    """
    proofs = prepared.proofs
    if prepared.fixed is None and len(proofs) == 1:
        p = proofs[0]
        # tuple.__new__ builds the same named tuple without its Python-level __new__ (the
        # order is the class's).
        expect = _NEW_TUPLE(
            _Expectations,
            (resolver, "assertionMethod", now, latest_created, None, None, signature_cache),
        )
        try:
            method = _check_one(p, expect)
        except (VerificationError, MalformedInputError) as e:
            return [ProofOutcome(p.number, p.proof, False, error=e)]
        if method is None:
            return [ProofOutcome(p.number, p.proof, False, error=p.error)]
        return method
    return check_prepared_proofs(
        prepared,
        resolver=resolver,
        expected_purpose="assertionMethod",
        now=now,
        clock_skew=clock_skew,
        signature_cache=signature_cache,
    )


def get_proof_outcomes(
    document: JSONObject,
    *,
    resolver: VerificationMethodResolver,
    expected_purpose: str | None = "assertionMethod",
    now: datetime | None = None,
    challenge: str | None = None,
    domain: str | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    signature_cache: SignatureCache | None = None,
) -> list[ProofOutcome]:
    """Verify every proof of ``document``; never raises.

    Steps, per proof (vc-data-integrity §4.5 Verify Proof Sets and Chains, then vc-di-eddsa
    §3.3.2): (1) type and cryptosuite; (2) purpose, created, expires, challenge, domain;
    (3) base58btc proofValue of 64 bytes; (4) previousProof ids resolve within the set;
    (5) @context prefix; (6) key resolution and purpose authorisation; (7) JCS, SHA-256 and
    Ed25519 verification (S < L enforced). The steps that depend only on the document
    (:func:`prepare_proofs`) and those that depend on time, expectations and trust
    (:func:`check_prepared_proofs`) are two functions; this runs both.

    Args:
        document: The secured document.
        resolver: Where verification methods come from.
        expected_purpose: The proof purpose every proof must have; None accepts the purpose
            each proof states (the key must still be authorised for it).
        now: Reference time for ``created``/``expires``; None skips those time checks.
        challenge: When given, every proof must carry exactly this challenge.
        domain: When given, every proof's domain must include it.
        clock_skew: How far in the future ``created`` may be.
        signature_cache: Ed25519 checks that passed before (step 7 only; see
            :mod:`credentials.signature_cache`); None checks every signature.

    Returns:
        One outcome per proof, in document order. A document without proofs, or whose proof
        member is malformed, gives a single failed outcome.

    """
    return check_prepared_proofs(
        prepare_proofs(document),
        resolver=resolver,
        expected_purpose=expected_purpose,
        now=now,
        challenge=challenge,
        domain=domain,
        clock_skew=clock_skew,
        signature_cache=signature_cache,
    )
