"""The static phase of Data Integrity proof verification: what a document's bytes decide.

W3C *Data Integrity EdDSA Cryptosuites v1.0* §3.3.2 (Verify Proof) and *Verifiable
Credential Data Integrity 1.0* §4.5 (proof sets and chains), the steps that depend only on
the document: the proof's type and cryptosuite, its stated purpose, ``created`` and
``expires`` parsed, the proofValue decoded, ``previousProof`` ids matched within the set,
the ``@context`` prefix, and the exact bytes the signature signs (JCS and SHA-256 for
``eddsa-jcs-2022``, RDFC-1.0 for ``eddsa-rdfc-2022``). :func:`prepare_proofs` runs them
once per document; :mod:`credentials.data_integrity` makes the checks that depend on time,
expectations and trust from the result, every time, and re-exports everything here.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from credentials.canonical import canonicalize, canonicalize_plain
from credentials.datetimes import parse_datetime
from credentials.eddsa_rdfc import CRYPTOSUITE as RDFC_CRYPTOSUITE
from credentials.eddsa_rdfc import hash_data as rdfc_hash_data
from credentials.errors import (
    InvalidProofError,
    MalformedInputError,
    TrustlaneError,
    UnresolvableVerificationMethodError,
    UnsupportedCryptosuiteError,
    VerificationError,
)
from credentials.keys import PublicKey, b58decode
from credentials.strict_json import JSONObject, JSONValue

__all__ = [
    "CRYPTOSUITE",
    "MAX_PROOFS",
    "PROOF_TYPE",
    "VERIFIABLE_SUITES",
    "PreparedProof",
    "PreparedProofs",
    "ProofOutcome",
    "ResolvedVerificationMethod",
    "prepare_proofs",
    "proofs_of",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
#: Cryptosuites whose proofs verify here (the node signs only with :data:`CRYPTOSUITE`).
VERIFIABLE_SUITES = (CRYPTOSUITE, RDFC_CRYPTOSUITE)
# Hard cap on proofs in one document: each costs a signature check (DoS bound).
MAX_PROOFS = 16


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


def _hash_data(unsecured: JSONObject, proof_config: JSONObject, plain: bool = False) -> bytes:
    # vc-di-eddsa §3.3.4 Hashing: SHA-256(canonical proof config) || SHA-256(canonical document).
    # credentials.canonical is the only producer of the bytes that are hashed; ``plain`` says
    # both values are parts of a document known to be plain JSON (see prepare_proofs).
    canonical = canonicalize_plain if plain else canonicalize
    return (
        hashlib.sha256(canonical(proof_config)).digest()
        + hashlib.sha256(canonical(unsecured)).digest()
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
    # A copy (in C) then one removal: cheaper than filtering member by member.
    unsecured = dict(document)
    unsecured.pop("proof", None)
    if matching:
        # The chained proof signs the document holding the proofs it follows, as a list.
        unsecured["proof"] = matching
    return unsecured


def _str_member(proof: JSONObject, name: str) -> str:
    value = proof.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidProofError(f"proof {name} must be a non-empty string")
    return value


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
    index: int,
    proof: JSONObject,
    document: JSONObject,
    all_proofs: Sequence[JSONObject],
    plain: bool = False,
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
            created = _parse_proof_time(proof["created"], "proof created")
        stage = _EXPIRES
        if "expires" in proof:
            expires = _parse_proof_time(proof["expires"], "proof expires")
        challenge = proof.get("challenge")
        got_domain = proof.get("domain")
        domains = tuple(got_domain) if isinstance(got_domain, list) else (got_domain,)
        stage = _BODY
        signature = _decode_proof_value(proof)
        vm_id = _str_member(proof, "verificationMethod")
        previous = _previous_ids(proof)
        unsecured = _input_document(
            document, _matching_proofs(previous, all_proofs) if previous else []
        )
        # Step 4: when the proof carries @context, the document's @context must start with
        # it (4.1) and the document is then hashed with the proof's @context (4.2).
        if "@context" in proof:
            proof_context = proof["@context"]
            doc_context = document.get("@context")
            prefix = proof_context if isinstance(proof_context, list) else [proof_context]
            have = doc_context if isinstance(doc_context, list) else [doc_context]
            # The usual case first: the proof repeats the document's whole @context list.
            if prefix != have and (len(have) < len(prefix) or have[: len(prefix)] != prefix):
                raise InvalidProofError(
                    "document @context does not start with the proof's @context",
                    code="PROOF_CONTEXT_MISMATCH",
                )
            unsecured["@context"] = proof_context
        stage = _HASH
        options = dict(proof)
        del options["proofValue"]  # present: _decode_proof_value read it
        if proof.get("cryptosuite") == RDFC_CRYPTOSUITE:
            # vc-di-eddsa §3.4.2/§3.4.5: the rdfc proof configuration carries the document's
            # @context, so that its terms expand the same way.
            if "@context" in unsecured:
                options["@context"] = unsecured["@context"]
            hashed = rdfc_hash_data(unsecured, options)
        else:
            hashed = _hash_data(unsecured, options, plain)
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


def prepare_proofs(document: JSONObject, *, plain: bool = False) -> PreparedProofs:
    """The static phase of :func:`get_proof_outcomes`: everything the bytes decide.

    Per proof: type and cryptosuite, the stated purpose, ``created`` and ``expires`` parsed,
    the proofValue decoded, ``previousProof`` ids matched within the set, the ``@context``
    prefix, and the exact bytes the signature signs (JCS and SHA-256, or RDFC-1.0). Nothing
    here depends on the time, the verifier's expectations or on which keys are trusted;
    :func:`check_prepared_proofs` does all of that, every time.

    Args:
        document: The secured document (not modified; the result refers to its proofs).
        plain: True only when the document is known to hold plain JSON values alone
            (:func:`credentials.jsonld.check_credential_jsonld_plain` said so, and it has not
            changed since): the JCS step then skips its own walk over the value types
            (:func:`credentials.canonical.canonicalize_plain`). The bytes are the same.

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
    if len(proofs) == 1:
        return PreparedProofs(None, (_prepare_one(0, proofs[0], document, proofs, plain),))
    return PreparedProofs(
        None, tuple(_prepare_one(i, p, document, proofs, plain) for i, p in enumerate(proofs))
    )


def _parse_proof_time(value: JSONValue, field: str) -> datetime:
    try:
        return parse_datetime(value, field=field)
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
