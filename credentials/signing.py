"""Signing credentials and presentations: check the data model, then add a proof.

The safe entry points for issuers (:func:`sign_credential`, ``assertionMethod``) and holders
(:func:`sign_presentation`, ``authentication`` bound to a verifier's challenge and domain).
They refuse to sign what would not verify (bad data model, naive times) so that signed output
is always checkable. Pure: ``created`` comes from the caller.
"""

from __future__ import annotations

from datetime import datetime

from credentials.data_integrity import ProofOptions, add_proof
from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential, VerifiablePresentation
from credentials.strict_json import JSONObject

__all__ = ["sign_credential", "sign_presentation"]


def sign_credential(
    credential: JSONObject,
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime,
    proof_id: str | None = None,
) -> JSONObject:
    """Return ``credential`` with an ``assertionMethod`` proof by ``key`` added.

    Args:
        credential: An unsecured VC 2.0 credential.
        key: The issuer's signing key.
        verification_method: URL of the issuer's key (listed for assertionMethod).
        created: The proof's creation time (aware).
        proof_id: Optional proof id.

    Returns:
        The secured credential (a new object).

    Raises:
        MalformedInputError: The credential breaks a VC 2.0 data model rule.
        InvalidKeyError: A did:key verification method names another key.

    """
    VerifiableCredential.from_dict(credential)
    options = ProofOptions(
        verification_method=verification_method,
        proof_purpose="assertionMethod",
        created=created,
        id=proof_id,
    )
    return add_proof(credential, key, options)


def sign_presentation(
    presentation: JSONObject,
    key: PrivateKey,
    *,
    challenge: str,
    domain: str,
    created: datetime,
) -> JSONObject:
    """Return ``presentation`` with the holder's ``authentication`` proof added.

    The proof binds the presentation to one verifier request: ``challenge`` is the value the
    verifier issued (single use) and ``domain`` the verifier's origin, so the presentation
    counts once, at that verifier only. The key signs as its own did:key.

    Args:
        presentation: An unsecured VC 2.0 presentation holding the credentials to show.
        key: The holder's key (the did:key every presented credential was issued to).
        challenge: The verifier's challenge.
        domain: The verifier's origin (its base URL).
        created: The proof's creation time (aware).

    Returns:
        The secured presentation (a new object).

    Raises:
        MalformedInputError: The presentation breaks a VC 2.0 data model rule, or
            ``challenge`` or ``domain`` is empty.

    """
    VerifiablePresentation.from_dict(presentation)
    if not challenge or not domain:
        raise MalformedInputError(
            "a presentation is signed for a challenge and a domain", code="INVALID_OPTIONS"
        )
    options = ProofOptions(
        verification_method=key.public_key.verification_method_id,
        proof_purpose="authentication",
        created=created,
        challenge=challenge,
        domain=domain,
    )
    return add_proof(presentation, key, options)
