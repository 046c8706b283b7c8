"""W3C Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite.

Creates and verifies single proofs, proof sets and proof chains (``previousProof``) following
W3C *Data Integrity EdDSA Cryptosuites v1.0* §3.3 (eddsa-jcs-2022) and *Verifiable Credential
Data Integrity 1.0* §4 (add and verify proof sets and chains). Verification also accepts
``eddsa-rdfc-2022`` proofs (§3.4), hashed by :mod:`credentials.eddsa_rdfc`; proofs are only
ever created with ``eddsa-jcs-2022``.

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
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from credentials.canonical import canonicalize
from credentials.datetimes import format_datetime, parse_datetime, require_aware, shift
from credentials.eddsa_rdfc import CRYPTOSUITE as RDFC_CRYPTOSUITE
from credentials.eddsa_rdfc import hash_data as rdfc_hash_data
from credentials.errors import (
    InvalidKeyError,
    InvalidProofError,
    InvalidSignatureError,
    MalformedInputError,
    TrustlaneError,
    UnresolvableVerificationMethodError,
    UnsupportedCryptosuiteError,
    VerificationError,
)
from credentials.keys import (
    PrivateKey,
    PublicKey,
    b58decode,
    b58encode,
    public_key_from_verification_method,
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
    "check_prepared_proofs",
    "get_proof_outcomes",
    "prepare_proofs",
    "proofs_of",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
#: Cryptosuites whose proofs verify here (the node signs only with :data:`CRYPTOSUITE`).
VERIFIABLE_SUITES = (CRYPTOSUITE, RDFC_CRYPTOSUITE)
# Hard cap on proofs in one document: each costs a signature check (DoS bound).
MAX_PROOFS = 16
# Allowance for clocks that run ahead of ours when checking ``created``.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

_DID_KEY_RELATIONSHIPS = frozenset(
    {"authentication", "assertionMethod", "capabilityDelegation", "capabilityInvocation"}
)


@dataclass(frozen=True)
class ResolvedVerificationMethod:
    """A verification method with the public key it names.

    Attributes:
        id: The verification method URL.
        controller: The DID (or URL) that controls the key.
        public_key: The Ed25519 key.
        relationships: The proof purposes the controller lists this method under.

    """

    id: str
    controller: str
    public_key: PublicKey
    relationships: frozenset[str]


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


@dataclass(frozen=True)
class ProofOutcome:
    """What happened to one proof of a document (never raised; see ``error``).

    Attributes:
        index: Position of the proof in the document's proof set.
        proof: The proof object as found (empty when it was not an object).
        verified: True when every step passed.
        method: The resolved verification method, when resolution succeeded.
        error: Why it did not verify, or None.

    """

    index: int
    proof: JSONObject
    verified: bool
    method: ResolvedVerificationMethod | None = None
    error: TrustlaneError | None = None

    @property
    def unknown(self) -> bool:
        """True when the outcome could not be decided (unsupported or unresolvable)."""
        return isinstance(
            self.error, UnsupportedCryptosuiteError | UnresolvableVerificationMethodError
        )


def proofs_of(document: JSONObject) -> list[JSONObject]:
    """Return the document's proofs as a list (a single proof object becomes one item).

    Raises:
        MalformedInputError: ``proof`` is neither an object nor a list of objects, or holds
            more than :data:`MAX_PROOFS`.

    """
    raw = document.get("proof")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_PROOFS:
        raise MalformedInputError(
            f"document has {len(items)} proofs; at most {MAX_PROOFS} are accepted",
            code="TOO_MANY_PROOFS",
        )
    out: list[JSONObject] = []
    for item in items:
        if not isinstance(item, dict):
            raise MalformedInputError("every proof must be a JSON object", code="MALFORMED_PROOF")
        out.append(item)
    return out


def _hash_data(unsecured: JSONObject, proof_config: JSONObject) -> bytes:
    # vc-di-eddsa §3.3.4 Hashing: SHA-256(canonical proof config) || SHA-256(canonical document).
    # canonicalize() is the only producer of the bytes that are hashed.
    return (
        hashlib.sha256(canonicalize(proof_config)).digest()
        + hashlib.sha256(canonicalize(unsecured)).digest()
    )


def _previous_ids(proof: JSONObject) -> list[str]:
    previous = proof.get("previousProof")
    if previous is None:
        return []
    ids = [previous] if isinstance(previous, str) else previous
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise InvalidProofError("previousProof must be a string or a non-empty list of strings")
    return [i for i in ids if isinstance(i, str)]


def _matching_proofs(ids: Sequence[str], all_proofs: Sequence[JSONObject]) -> list[JSONValue]:
    # vc-data-integrity §4.2 / §4.5: every previousProof id must name a proof in the set.
    matching: list[JSONValue] = []
    for wanted in ids:
        found = [p for p in all_proofs if p.get("id") == wanted]
        if not found:
            raise InvalidProofError(
                f"previousProof {wanted!r} is not in the proof set", code="PREVIOUS_PROOF_MISSING"
            )
        matching.append(found[0])
    return matching


def _input_document(document: JSONObject, matching: list[JSONValue]) -> JSONObject:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    if matching:
        # The chained proof signs the document holding the proofs it follows, as a list.
        unsecured["proof"] = matching
    return unsecured


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


def _str_member(proof: JSONObject, name: str) -> str:
    value = proof.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidProofError(f"proof {name} must be a non-empty string")
    return value


class _Expectations(NamedTuple):
    """What the verifier requires of every proof, fixed once per document."""

    resolver: VerificationMethodResolver
    purpose: str | None
    now: datetime | None
    latest_created: datetime | None
    challenge: str | None
    domain: str | None
    signature_cache: SignatureCache | None = None


# Where the static phase of a proof stopped. The numbers follow the order in which the checks
# always ran, static and dynamic interleaved, so that the dynamic phase can report exactly the
# error the one-pass verifier reported: it runs its own checks up to the stage where the
# static phase failed and then reports the static error.
_TYPE, _PURPOSE, _CREATED, _EXPIRES, _BODY, _HASH, _DONE = range(7)


class PreparedProof(NamedTuple):
    """One proof after the steps that depend only on the document's bytes.

    Immutable (a named tuple: cheap to build on the uncached path), and shared between
    verifications when cached (:class:`credentials.prepared.PreparedCache`); only
    :func:`check_prepared_proofs` reads it.

    Attributes:
        number: Position in the proof set.
        proof: The proof object as found (read only: it may be shared).
        failed_at: The stage at which a static step failed, or past the last stage.
        error: That step's error (its traceback dropped), or None.
        purpose: The stated ``proofPurpose``.
        created: The parsed ``created``, if stated.
        expires: The parsed ``expires``, if stated.
        challenge: The stated ``challenge`` member, as found.
        domains: The stated ``domain`` member(s), as found.
        vm_id: The stated ``verificationMethod``.
        signature: The decoded 64-byte signature.
        hashed: The exact bytes the signature signs (the proof input hash).

    """

    number: int
    proof: JSONObject
    failed_at: int
    error: TrustlaneError | None = None
    purpose: str = ""
    created: datetime | None = None
    expires: datetime | None = None
    challenge: JSONValue = None
    domains: tuple[JSONValue, ...] = ()
    vm_id: str = ""
    signature: bytes = b""
    hashed: bytes = b""


class PreparedProofs(NamedTuple):
    """A document's proofs after the static phase (:func:`prepare_proofs`).

    Attributes:
        fixed: The outcome when the proof member itself is missing or malformed (then no
            proof is checked), else None.
        proofs: One prepared proof per proof, in document order.

    """

    fixed: ProofOutcome | None
    proofs: tuple[PreparedProof, ...] = ()


def _detached(error: TrustlaneError) -> TrustlaneError:
    # A kept error must not keep the frames of the verification that raised it alive.
    error.__traceback__ = None
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            linked.__traceback__ = None
    return error


def _prepare_one(
    index: int, proof: JSONObject, document: JSONObject, all_proofs: Sequence[JSONObject]
) -> PreparedProof:
    """Run the static steps of vc-di-eddsa §3.3.2 Verify Proof for one proof."""
    stage = _TYPE
    purpose, vm_id, signature, hashed = "", "", b"", b""
    created: datetime | None = None
    expires: datetime | None = None
    challenge: JSONValue = None
    domains: tuple[JSONValue, ...] = ()
    try:
        # vc-di-eddsa §3.3.2 step 5 / §3.3.3 Transformation: type and cryptosuite must match.
        # Verification accepts eddsa-rdfc-2022 too (credentials.eddsa_rdfc); signing never
        # uses it.
        if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") not in VERIFIABLE_SUITES:
            raise UnsupportedCryptosuiteError(
                f"unsupported proof type/cryptosuite {proof.get('type')!r}/"
                f"{proof.get('cryptosuite')!r}; only {PROOF_TYPE} with "
                f"{' or '.join(VERIFIABLE_SUITES)} is accepted"
            )
        stage = _PURPOSE
        purpose = _str_member(proof, "proofPurpose")
        stage = _CREATED
        if "created" in proof:
            created = _parse_proof_time(proof["created"], "created")
        stage = _EXPIRES
        if "expires" in proof:
            expires = _parse_proof_time(proof["expires"], "expires")
        challenge = proof.get("challenge")
        got_domain = proof.get("domain")
        domains = tuple(got_domain) if isinstance(got_domain, list) else (got_domain,)
        stage = _BODY
        signature = _decode_proof_value(proof)
        vm_id = _str_member(proof, "verificationMethod")
        matching = _matching_proofs(_previous_ids(proof), all_proofs)
        unsecured = _input_document(document, matching)
        # Step 4: when the proof carries @context, the document's @context must start with
        # it (4.1) and the document is then hashed with the proof's @context (4.2).
        if "@context" in proof:
            proof_context = proof["@context"]
            doc_context = document.get("@context")
            prefix = proof_context if isinstance(proof_context, list) else [proof_context]
            have = doc_context if isinstance(doc_context, list) else [doc_context]
            if len(have) < len(prefix) or have[: len(prefix)] != prefix:
                raise InvalidProofError(
                    "document @context does not start with the proof's @context",
                    code="PROOF_CONTEXT_MISMATCH",
                )
            unsecured["@context"] = proof_context
        stage = _HASH
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        if proof.get("cryptosuite") == RDFC_CRYPTOSUITE:
            # vc-di-eddsa §3.4.2/§3.4.5: the rdfc proof configuration carries the document's
            # @context, so that its terms expand the same way.
            if "@context" in unsecured:
                options["@context"] = unsecured["@context"]
            hashed = rdfc_hash_data(unsecured, options)
        else:
            hashed = _hash_data(unsecured, options)
        stage = _DONE
        error: TrustlaneError | None = None
    except (VerificationError, MalformedInputError) as e:
        error = _detached(e)
    return PreparedProof(
        index,
        proof,
        stage,
        error,
        purpose,
        created,
        expires,
        challenge,
        domains,
        vm_id,
        signature,
        hashed,
    )


def prepare_proofs(document: JSONObject) -> PreparedProofs:
    """The static phase of :func:`get_proof_outcomes`: everything the bytes decide.

    Per proof: type and cryptosuite, the stated purpose, ``created`` and ``expires`` parsed,
    the proofValue decoded, ``previousProof`` ids matched within the set, the ``@context``
    prefix, and the exact bytes the signature signs (JCS and SHA-256, or RDFC-1.0). Nothing
    here depends on the time, the verifier's expectations or on which keys are trusted;
    :func:`check_prepared_proofs` does all of that, every time.

    Args:
        document: The secured document (not modified; the result refers to its proofs).

    Returns:
        The prepared proofs; a failure of a static step is kept in the proof's entry.

    """
    try:
        proofs = proofs_of(document)
    except MalformedInputError as e:
        return PreparedProofs(ProofOutcome(0, {}, False, error=_detached(e)))
    if not proofs:
        return PreparedProofs(
            ProofOutcome(0, {}, False, error=InvalidProofError("document has no proof"))
        )
    if len(proofs) > 1:
        ids = [repr(p["id"]) for p in proofs if "id" in p]
        if len(ids) != len(set(ids)):
            error = InvalidProofError("proof ids in the proof set are not unique")
            return PreparedProofs(
                None, tuple(PreparedProof(i, p, _TYPE, error) for i, p in enumerate(proofs))
            )
    return PreparedProofs(
        None, tuple(_prepare_one(i, p, document, proofs) for i, p in enumerate(proofs))
    )


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
    expect = _Expectations(
        resolver=resolver,
        purpose=expected_purpose,
        now=now,
        latest_created=None if now is None else shift(now, clock_skew),
        challenge=challenge,
        domain=domain,
        signature_cache=signature_cache,
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


def _parse_proof_time(value: JSONValue, name: str) -> datetime:
    try:
        return parse_datetime(value, field=f"proof {name}")
    except MalformedInputError as e:
        raise InvalidProofError(e.message, code="INVALID_DATETIME") from e


def _decode_proof_value(proof: JSONObject) -> bytes:
    # vc-di-eddsa §3.3.2 step 3: base58btc multibase ("z") only.
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise InvalidProofError("proofValue must be a base58btc multibase string ('z...')")
    try:
        signature = b58decode(value[1:])
    except MalformedInputError as e:
        raise InvalidProofError("proofValue is not valid base58btc") from e
    if len(signature) != 64:
        raise InvalidProofError(f"proofValue decodes to {len(signature)} bytes, expected 64")
    return signature


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
