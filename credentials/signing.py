"""Signing credentials: check the data model, then add an ``eddsa-jcs-2022`` proof.

The safe entry point for issuers. It refuses to sign what would not verify as a credential
(bad data model, naive times) so that signed output is always checkable. Pure: ``created``
comes from the caller.
"""

from __future__ import annotations

from datetime import datetime

from credentials.data_integrity import ProofOptions, add_proof
from credentials.keys import PrivateKey
from credentials.model import VerifiableCredential
from credentials.strict_json import JSONObject

__all__ = ["sign_credential"]


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
