"""Errors raised by the trust kernel.

One base class, :class:`TrustlaneError`; each subtree says what the caller can do about it:

- :class:`MalformedInputError`: the input is not acceptable at all (bad JSON, wrong shape).
  Fix the input; retrying will not help.
- :class:`VerificationError`: the input is well formed but a check failed (bad signature,
  expired, wrong purpose...). The thing presented must not be trusted.

Every error carries a stable ``code`` (used in API problem bodies and verification results)
and :meth:`TrustlaneError.diagnostics` for operators. Exceptions never log and never touch
Flask; the caller decides how to show them.
"""

from __future__ import annotations

__all__ = [
    "InvalidKeyError",
    "InvalidProofError",
    "InvalidSignatureError",
    "MalformedInputError",
    "MalformedJSONError",
    "TrustlaneError",
    "UnresolvableVerificationMethodError",
    "UnsupportedCryptosuiteError",
    "ValidityError",
    "VerificationError",
]


class TrustlaneError(Exception):
    """Base class of every trustlane error.

    Attributes:
        code: A stable, machine-readable error code (upper snake case).

    """

    code: str = "TRUSTLANE_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The one-line human message."""
        return str(self.args[0]) if self.args else self.code

    def diagnostics(self) -> str:
        """Explain the error for an operator: what failed and what to look at."""
        return f"{self.code}: {self.message}"


class MalformedInputError(TrustlaneError):
    """The input cannot be processed (syntax, shape, limits)."""

    code = "MALFORMED_INPUT"


class MalformedJSONError(MalformedInputError):
    """The bytes are not strict JSON (duplicates, NaN, bad UTF-8, too deep or too large)."""

    code = "MALFORMED_JSON"


class InvalidKeyError(MalformedInputError):
    """A key or key identifier is not an acceptable Ed25519 Multikey / did:key."""

    code = "INVALID_KEY"


class VerificationError(TrustlaneError):
    """A well-formed input failed a verification check."""

    code = "VERIFICATION_ERROR"


class InvalidSignatureError(VerificationError):
    """An Ed25519 signature does not verify (or is malformed or malleable)."""

    code = "INVALID_SIGNATURE"


class InvalidProofError(VerificationError):
    """A Data Integrity proof is not acceptable (structure, options, signature)."""

    code = "PROOF_VERIFICATION_ERROR"


class UnsupportedCryptosuiteError(InvalidProofError):
    """The proof type or cryptosuite is not one this verifier implements."""

    code = "UNSUPPORTED_CRYPTOSUITE"


class ValidityError(VerificationError):
    """The document is outside its validity period at the reference time."""

    code = "VALIDITY_ERROR"


class UnresolvableVerificationMethodError(VerificationError):
    """The verification method cannot be resolved here (unknown DID method, unknown key).

    Verifiers report this as ``unknown``, never as valid.
    """

    code = "UNRESOLVABLE_VERIFICATION_METHOD"
