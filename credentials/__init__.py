"""The trust kernel: proofs and verification of W3C Verifiable Credentials.

Strict JSON, JCS, Ed25519 Multikey / did:key, eddsa-jcs-2022 proofs and VC 2.0 credential
verification.

Pure: no network, no disk, no clock. Callers pass documents, keys and ``now``.

Example:
    >>> from datetime import UTC, datetime
    >>> from credentials import (DIDKeyResolver, PrivateKey, sign_credential,
    ...                          get_credential_verification_result)
    >>> key = PrivateKey.generate()
    >>> vc = {"@context": ["https://www.w3.org/ns/credentials/v2"],
    ...       "type": ["VerifiableCredential"], "issuer": key.public_key.did,
    ...       "credentialSubject": {"name": "x"}}
    >>> now = datetime.now(UTC)
    >>> signed = sign_credential(vc, key, created=now,
    ...                          verification_method=key.public_key.verification_method_id)
    >>> get_credential_verification_result(signed, resolver=DIDKeyResolver(), now=now).verified
    True

"""

from credentials.canonical import canonicalize
from credentials.data_integrity import (
    DIDKeyResolver,
    ProofOptions,
    ResolvedVerificationMethod,
    VerificationMethodResolver,
    add_proof,
    get_proof_outcomes,
)
from credentials.errors import (
    InvalidKeyError,
    InvalidProofError,
    InvalidSignatureError,
    MalformedInputError,
    MalformedJSONError,
    TrustlaneError,
    UnresolvableVerificationMethodError,
    UnsupportedCryptosuiteError,
    VerificationError,
)
from credentials.keys import PrivateKey, PublicKey, resolve_did_key
from credentials.model import VerifiableCredential
from credentials.result import Check, CheckStatus, VerificationResult
from credentials.signing import sign_credential
from credentials.strict_json import JSONObject, JSONValue, loads, loads_object
from credentials.verification import get_credential_verification_result, verify_credential

__all__ = [
    "Check",
    "CheckStatus",
    "DIDKeyResolver",
    "InvalidKeyError",
    "InvalidProofError",
    "InvalidSignatureError",
    "JSONObject",
    "JSONValue",
    "MalformedInputError",
    "MalformedJSONError",
    "PrivateKey",
    "ProofOptions",
    "PublicKey",
    "ResolvedVerificationMethod",
    "TrustlaneError",
    "UnresolvableVerificationMethodError",
    "UnsupportedCryptosuiteError",
    "VerifiableCredential",
    "VerificationError",
    "VerificationMethodResolver",
    "VerificationResult",
    "add_proof",
    "canonicalize",
    "get_credential_verification_result",
    "get_proof_outcomes",
    "loads",
    "loads_object",
    "resolve_did_key",
    "sign_credential",
    "verify_credential",
]
