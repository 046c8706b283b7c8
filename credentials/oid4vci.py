"""The holder's proof of possession for credential delivery (OpenID4VCI 1.0, ``di_vp``).

PURE. When a wallet asks the node's credential endpoint for its credential, it proves that it
holds the key the credential will be bound to with a ``di_vp`` proof (OpenID for Verifiable
Credential Issuance 1.0, Appendix F): a W3C Verifiable Presentation without credentials,
secured with a Data Integrity proof (``eddsa-jcs-2022``) by the holder's did:key, with
``proofPurpose`` ``authentication``, ``challenge`` the ``c_nonce`` the node's nonce endpoint
gave, and ``domain`` the Credential Issuer Identifier (the node's origin).

:func:`sign_key_proof` makes one (the wallet); :func:`verify_key_proof` checks one (the node)
and returns the holder's DID and the nonce it answers. Whether that nonce was issued, is
unexpired and unused is for the node to decide (one atomic database operation): this module
does not read the clock, the disk or a database.

Example:
    >>> from datetime import UTC, datetime
    >>> key = PrivateKey.generate()
    >>> now = datetime.now(UTC)
    >>> vp = sign_key_proof(key, nonce="n" * 43, issuer="https://eu.example", created=now)
    >>> verify_key_proof(vp, issuer="https://eu.example", now=now).holder == key.public_key.did
    True

"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from credentials.data_integrity import (
    DIDKeyResolver,
    ProofOptions,
    add_proof,
    get_proof_outcomes,
    proofs_of,
)
from credentials.errors import InvalidProofError, MalformedInputError
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.strict_json import JSONObject

__all__ = [
    "DI_VP",
    "PRE_AUTHORIZED_CODE_GRANT",
    "KeyProof",
    "sign_key_proof",
    "verify_key_proof",
]

#: The OpenID4VCI 1.0 proof type: a Data Integrity secured presentation (Appendix F).
DI_VP = "di_vp"
#: The OAuth grant type of the pre-authorised code flow (OpenID4VCI 1.0 §3.5).
PRE_AUTHORIZED_CODE_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"

_DID_KEYS = DIDKeyResolver()
_DEFAULT_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class KeyProof:
    """A key proof that verified.

    Attributes:
        holder: The did:key that signed (the credential's ``credentialSubject.id``).
        nonce: The ``challenge`` it answers (the node's ``c_nonce``).

    """

    holder: str
    nonce: str


def sign_key_proof(key: PrivateKey, *, nonce: str, issuer: str, created: datetime) -> JSONObject:
    """Return the ``di_vp`` proof of possession of ``key`` for one credential request.

    Args:
        key: The holder's key (the credential will be issued to its did:key).
        nonce: The ``c_nonce`` from the issuer's nonce endpoint.
        issuer: The Credential Issuer Identifier (the node's origin).
        created: The proof's creation time (aware).

    Returns:
        The signed presentation.

    Raises:
        MalformedInputError: ``nonce`` or ``issuer`` is empty.

    """
    if not nonce or not issuer:
        raise MalformedInputError(
            "a key proof is signed for a nonce and the credential issuer", code="INVALID_OPTIONS"
        )
    presentation: JSONObject = {
        "@context": [VC_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": key.public_key.did,
    }
    options = ProofOptions(
        verification_method=key.public_key.verification_method_id,
        proof_purpose="authentication",
        created=created,
        challenge=nonce,
        domain=issuer,
    )
    return add_proof(presentation, key, options)


def verify_key_proof(
    document: JSONObject,
    *,
    issuer: str,
    now: datetime,
    clock_skew: timedelta = _DEFAULT_SKEW,
) -> KeyProof:
    """Check a ``di_vp`` key proof; return who signed it and the nonce it answers.

    Steps: (1) a VC 2.0 presentation (``@context`` first entry the v2 context, ``type``
    includes ``VerifiablePresentation``) holding no credential; (2) exactly one proof, by a
    did:key; (3) that proof verifies (vc-data-integrity §4.5, vc-di-eddsa §3.3.2) with
    purpose ``authentication``, domain ``issuer`` and a string ``challenge``; (4) ``holder``,
    when present, is the signer.

    Args:
        document: The presentation from ``proofs.di_vp``.
        issuer: This Credential Issuer Identifier (the only ``domain`` accepted).
        now: The request's time.
        clock_skew: How far in the future ``created`` may be.

    Returns:
        The signer's DID and the challenge (nonce).

    Raises:
        InvalidProofError: Any step failed; the message says which.

    """
    contexts = document.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2_CONTEXT:
        raise InvalidProofError(f"the key proof's first @context must be {VC_V2_CONTEXT}")
    types = document.get("type")
    type_values = [types] if isinstance(types, str) else types
    if not isinstance(type_values, list) or "VerifiablePresentation" not in type_values:
        raise InvalidProofError("the key proof must be a VerifiablePresentation")
    if "verifiableCredential" in document:
        raise InvalidProofError("the key proof must not hold credentials")
    try:
        proofs = proofs_of(document)
    except MalformedInputError as e:
        raise InvalidProofError(f"the key proof is malformed: {e.message}") from e
    if len(proofs) != 1:
        raise InvalidProofError(f"the key proof needs exactly one proof ({len(proofs)} found)")
    method = proofs[0].get("verificationMethod")
    if not isinstance(method, str) or not method.startswith("did:key:"):
        raise InvalidProofError("the key proof must be signed by the holder's did:key")
    nonce = proofs[0].get("challenge")
    if not isinstance(nonce, str) or not nonce:
        raise InvalidProofError("the key proof must carry the c_nonce as its challenge")
    outcome = get_proof_outcomes(
        document,
        resolver=_DID_KEYS,
        expected_purpose="authentication",
        now=now,
        challenge=nonce,
        domain=issuer,
        clock_skew=clock_skew,
    )[0]
    if not outcome.verified or outcome.method is None:
        reason = outcome.error.message if outcome.error is not None else "it does not verify"
        raise InvalidProofError(f"the key proof does not verify: {reason}")
    signer = outcome.method.controller
    holder = document.get("holder")
    holder_id = holder.get("id") if isinstance(holder, dict) else holder
    if holder is not None and holder_id != signer:
        raise InvalidProofError(f"the key proof names {holder_id!r} as holder but {signer} signed")
    return KeyProof(holder=signer, nonce=nonce)
