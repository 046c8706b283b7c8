"""Ed25519 keys as Multikey values and did:key identifiers.

This is the only module in the project that calls Ed25519 primitives (PyNaCl / libsodium). It:

- encodes and decodes base58btc (bitcoin alphabet);
- parses and formats Ed25519 keys as Multikey multibase strings
  (``"z" + base58btc(0xed01 || key)`` for a public key, ``"z" + base58btc(0x8026 || seed)`` for a
  private key), as required by vc-di-eddsa section 2.1.1 "Multikey";
- signs and verifies detached Ed25519 signatures (RFC 8032), rejecting malleable signatures
  (S >= L) and small-order or non-canonical public keys;
- resolves ``did:key`` identifiers (did:key method spec, Multikey form with the DID Core 1.0
  contexts) and maps verification method ids to public keys.

It does not do any I/O, read the clock, log, canonicalize documents or build Data Integrity
proofs; callers use ``sign_credential`` / ``verify_credential`` for that. Only
:meth:`PrivateKey.generate` is non-deterministic (it draws a seed from the OS CSPRNG).

Example:
    >>> key = PrivateKey.from_seed(bytes(32))
    >>> key.public_key.did
    'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp'
    >>> signature = key.sign(b"hello")
    >>> key.public_key.verify(signature, b"hello")

"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

import based58
import nacl.exceptions
import nacl.signing
import nacl.utils
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_is_valid_point,
    crypto_sign_ed25519_pk_to_curve25519,
    crypto_sign_open,
)

from credentials.errors import InvalidKeyError, InvalidSignatureError, MalformedInputError

__all__ = [
    "ED25519_PRIV_MULTICODEC",
    "ED25519_PUB_MULTICODEC",
    "DIDDocument",
    "MultikeyVerificationMethod",
    "PrivateKey",
    "PublicKey",
    "b58decode",
    "b58encode",
    "key_pair_from_dict",
    "key_pair_to_dict",
    "public_key_from_verification_method",
    "resolve_did_key",
]

#: Multicodec header (unsigned varint of 0xed, ``ed25519-pub``) of an Ed25519 public Multikey.
ED25519_PUB_MULTICODEC = b"\xed\x01"
#: Multicodec header (unsigned varint of 0x1300, ``ed25519-priv``) of an Ed25519 private Multikey.
ED25519_PRIV_MULTICODEC = b"\x80\x26"
# Multicodec header (varint of 0xec, ``x25519-pub``) of the derived key-agreement key.
_X25519_PUB_MULTICODEC = b"\xec\x01"

_KEY_LENGTH = 32
_SIGNATURE_LENGTH = 64
# The field prime p and the order L of the prime-order subgroup (RFC 8032 section 5.1).
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_Y_MASK = (1 << 255) - 1
_IDENTITY = b"\x01" + bytes(31)

_DID_KEY_PREFIX = "did:key:"
_DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]

# Names of the multicodec codes a caller is likely to hand us by mistake, for error messages.
_MULTICODEC_NAMES = {
    0xE7: "secp256k1-pub",
    0xEC: "x25519-pub",
    0xED: "ed25519-pub",
    0x1200: "p256-pub",
    0x1201: "p384-pub",
    0x1300: "ed25519-priv",
    0x1301: "secp256k1-priv",
    0x1302: "x25519-priv",
}


class MultikeyVerificationMethod(TypedDict):
    """A Multikey verification method, as it appears in a DID document."""

    id: str
    type: str
    controller: str
    publicKeyMultibase: str


#: A did:key DID document (DID Core 1.0 contexts, Multikey verification methods).
DIDDocument = TypedDict(
    "DIDDocument",
    {
        "@context": list[str],
        "id": str,
        "verificationMethod": list[MultikeyVerificationMethod],
        "authentication": list[str],
        "assertionMethod": list[str],
        "capabilityDelegation": list[str],
        "capabilityInvocation": list[str],
        "keyAgreement": list[MultikeyVerificationMethod],
    },
)


def b58encode(data: bytes) -> str:
    """Encode bytes as base58btc (bitcoin alphabet), without a multibase prefix.

    Args:
        data: The bytes to encode.

    Returns:
        The base58btc text; leading zero bytes become leading ``"1"`` characters.

    Raises:
        TypeError: ``data`` is not bytes.

    """
    return str(based58.b58encode(data), "ascii")


def b58decode(text: str) -> bytes:
    """Decode base58btc text (bitcoin alphabet), without a multibase prefix.

    Args:
        text: The base58btc text.

    Returns:
        The decoded bytes.

    Raises:
        MalformedInputError: ``text`` contains a character outside the base58btc alphabet.

    """
    try:
        return based58.b58decode(text.encode("ascii"))
    except ValueError as e:  # Also covers UnicodeEncodeError for non-ASCII text.
        raise MalformedInputError("not base58btc") from e


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key that is safe to verify with.

    Construction rejects keys that would make verification meaningless: a wrong length, a
    non-canonical encoding (y >= 2^255 - 19), a point that is not on the curve, a small-order
    point, or a point outside the prime-order subgroup.

    Attributes:
        raw: The 32-byte encoded point (RFC 8032 section 5.1.2).

    """

    raw: bytes

    def __post_init__(self) -> None:
        """Check that ``raw`` is an acceptable Ed25519 public key.

        Raises:
            InvalidKeyError: The key is malformed, non-canonical or of small order.

        """
        raw = _require_bytes(self.raw, "Ed25519 public key")
        if len(raw) != _KEY_LENGTH:
            raise InvalidKeyError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
        # libsodium checks this too, but say so explicitly: a y >= p encoding is a second name
        # for a point, which would let one key have two did:key identifiers.
        if int.from_bytes(raw, "little") & _Y_MASK >= _P:
            raise InvalidKeyError("Ed25519 public key is not canonical: y >= 2^255 - 19")
        if not crypto_core_ed25519_is_valid_point(raw):
            raise InvalidKeyError(f"Ed25519 public key is {_point_problem(raw)}")

    @property
    def multibase(self) -> str:
        """The Multikey value: ``"z" + base58btc(0xed01 || raw)``, i.e. ``"z6Mk..."``."""
        return "z" + b58encode(ED25519_PUB_MULTICODEC + self.raw)

    @property
    def did(self) -> str:
        """The ``did:key`` DID of this key."""
        return _DID_KEY_PREFIX + self.multibase

    @property
    def verification_method_id(self) -> str:
        """The did:key verification method id: ``did + "#" + multibase``."""
        multibase = self.multibase
        return f"{_DID_KEY_PREFIX}{multibase}#{multibase}"

    @classmethod
    def from_multibase(cls, text: str) -> PublicKey:
        """Parse an Ed25519 public Multikey (``"z6Mk..."``).

        Args:
            text: ``"z"`` + base58btc(0xed01 || 32-byte key).

        Returns:
            The public key.

        Raises:
            InvalidKeyError: The prefix is not ``"z"``, the text is not base58btc, the multicodec
                header is not exactly 0xed01, the key is not 32 bytes, or the key is rejected.

        """
        return cls(_decode_multikey(text, ED25519_PUB_MULTICODEC, "Ed25519 public key"))

    @classmethod
    def from_did_key(cls, did_or_vm_id: str) -> PublicKey:
        """Parse a did:key DID or a did:key verification method id.

        Args:
            did_or_vm_id: ``"did:key:z6Mk..."`` or ``"did:key:z6Mk...#z6Mk..."``. A fragment,
                if present, must equal the multibase value.

        Returns:
            The public key.

        Raises:
            InvalidKeyError: The identifier is not a did:key, its fragment differs from its
                multibase value, or the key itself is rejected (see :meth:`from_multibase`).

        """
        text = _require_str(did_or_vm_id, "did:key identifier")
        if not text.startswith(_DID_KEY_PREFIX):
            raise InvalidKeyError(_not_did_key_message(text))
        did, has_fragment, fragment = text.partition("#")
        multibase = did[len(_DID_KEY_PREFIX) :]
        key = cls.from_multibase(multibase)
        if has_fragment and fragment != multibase:
            raise InvalidKeyError("did:key fragment must equal the DID's multibase value")
        return key

    def verify(self, signature: bytes, message: bytes) -> None:
        """Verify a detached Ed25519 signature (RFC 8032 section 5.1.7).

        Args:
            signature: The 64-byte signature R || S.
            message: The signed bytes, exactly as received.

        Raises:
            InvalidSignatureError: The signature is not 64 bytes, S >= L (malleable), or the
                signature does not verify for this key and message.

        """
        if len(signature) != _SIGNATURE_LENGTH:
            raise InvalidSignatureError(f"Ed25519 signature must be 64 bytes, got {len(signature)}")
        # Step 1 of RFC 8032 section 5.1.7 (see also section 8.4): S must be reduced mod L,
        # otherwise S + L is a second valid signature. libsodium checks this as well; checking
        # here keeps the guarantee independent of the libsodium build.
        # S < 2**252 < L whenever its top byte is below 0x10 (L's top byte): the usual case
        # needs no conversion to an integer.
        if signature[63] >= 0x10 and int.from_bytes(signature[32:], "little") >= _L:
            raise InvalidSignatureError("Ed25519 signature is malleable: S >= group order L")
        # crypto_sign_open was measured as fast as a cached nacl VerifyKey (the curve arithmetic
        # dominates) and needs no extra object per key.
        try:
            crypto_sign_open(signature + message, self.raw)
        except nacl.exceptions.CryptoError as e:
            raise InvalidSignatureError("Ed25519 signature does not verify") from e


@dataclass(frozen=True, eq=False)
class PrivateKey:
    """An Ed25519 private key (the 32-byte RFC 8032 seed).

    The seed never appears in ``repr``; equality compares seeds in constant time.

    Attributes:
        seed: The 32-byte secret seed.

    """

    seed: bytes = field(repr=False)
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)
    _public_key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the seed and derive the key pair once.

        Raises:
            InvalidKeyError: The seed is not 32 bytes.

        """
        seed = _require_bytes(self.seed, "Ed25519 seed")
        if len(seed) != _KEY_LENGTH:
            raise InvalidKeyError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        signing_key = nacl.signing.SigningKey(seed)
        object.__setattr__(self, "_signing_key", signing_key)
        object.__setattr__(self, "_public_key", PublicKey(bytes(signing_key.verify_key)))

    def __repr__(self) -> str:
        """Show the public key only."""
        return f"PrivateKey(public_key={self._public_key.multibase!r})"

    def __eq__(self, other: object) -> bool:
        """Compare seeds in constant time."""
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.seed, other.seed)

    def __hash__(self) -> int:
        """Hash the public key, which identifies the seed without revealing it."""
        return hash(self._public_key)

    @classmethod
    def generate(cls) -> PrivateKey:
        """Create a new random key from the OS CSPRNG (via libsodium).

        Returns:
            A fresh private key.

        """
        return cls(nacl.utils.random(_KEY_LENGTH))

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        """Build a key from its 32-byte seed.

        Args:
            seed: The RFC 8032 secret seed.

        Returns:
            The private key.

        Raises:
            InvalidKeyError: The seed is not 32 bytes.

        """
        return cls(seed)

    @classmethod
    def from_multibase(cls, text: str) -> PrivateKey:
        """Parse an Ed25519 private Multikey (``"z3u2..."``).

        Args:
            text: ``"z"`` + base58btc(0x8026 || 32-byte seed).

        Returns:
            The private key.

        Raises:
            InvalidKeyError: The prefix is not ``"z"``, the text is not base58btc, the multicodec
                header is not exactly 0x8026, or the seed is not 32 bytes.

        """
        return cls(_decode_multikey(text, ED25519_PRIV_MULTICODEC, "Ed25519 private key"))

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self._public_key

    @property
    def multibase(self) -> str:
        """The private Multikey value: ``"z" + base58btc(0x8026 || seed)``, i.e. ``"z3u2..."``."""
        return "z" + b58encode(ED25519_PRIV_MULTICODEC + self.seed)

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (RFC 8032 section 5.1.6; deterministic).

        Args:
            message: The bytes to sign.

        Returns:
            The 64-byte detached signature R || S.

        """
        return self._signing_key.sign(message).signature


@functools.lru_cache(maxsize=4096)
def public_key_from_verification_method(vm_id: str) -> PublicKey:
    """Return the public key of a did:key verification method id (cached).

    Args:
        vm_id: ``"did:key:z6Mk...#z6Mk..."``; the fragment is required and must equal the
            multibase value.

    Returns:
        The public key. Equal ids return the same cached object.

    Raises:
        InvalidKeyError: ``vm_id`` uses another DID method, has no fragment, or names an
            unacceptable key.

    """
    text = _require_str(vm_id, "verification method id")
    if not text.startswith(_DID_KEY_PREFIX):
        raise InvalidKeyError(_not_did_key_message(text))
    if "#" not in text:
        raise InvalidKeyError("verification method id has no '#' fragment")
    return PublicKey.from_did_key(text)


def resolve_did_key(did: str) -> DIDDocument:
    """Resolve a did:key DID to its DID document (did:key method spec, Multikey form).

    The document uses the DID Core 1.0 contexts and adds the X25519 key-agreement key derived
    from the Ed25519 key (the spec's ``enableEncryptionKeyDerivation`` option).

    Args:
        did: ``"did:key:z6Mk..."``, without a fragment.

    Returns:
        A new DID document on each call; the caller may modify it.

    Raises:
        InvalidKeyError: ``did`` is not an Ed25519 did:key or has a fragment.

    """
    text = _require_str(did, "DID")
    if "#" in text:
        raise InvalidKeyError("expected a DID without a '#' fragment")
    key = PublicKey.from_did_key(text)
    multibase = key.multibase
    vm_id = f"{text}#{multibase}"
    x25519 = "z" + b58encode(_X25519_PUB_MULTICODEC + crypto_sign_ed25519_pk_to_curve25519(key.raw))
    return {
        "@context": list(_DID_CONTEXT),
        "id": text,
        "verificationMethod": [
            {"id": vm_id, "type": "Multikey", "controller": text, "publicKeyMultibase": multibase}
        ],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
        "keyAgreement": [
            {
                "id": f"{text}#{x25519}",
                "type": "Multikey",
                "controller": text,
                "publicKeyMultibase": x25519,
            }
        ],
    }


def key_pair_to_dict(private: PrivateKey) -> dict[str, str]:
    """Serialize a key pair in the CLI key-file format.

    Args:
        private: The private key.

    Returns:
        ``{"id": <verification method id>, "publicKeyMultibase": ..., "privateKeyMultibase": ...}``.

    """
    public = private.public_key
    return {
        "id": public.verification_method_id,
        "publicKeyMultibase": public.multibase,
        "privateKeyMultibase": private.multibase,
    }


def key_pair_from_dict(d: Mapping[str, object]) -> PrivateKey:
    """Read a key pair in the CLI key-file format (see :func:`key_pair_to_dict`).

    ``privateKeyMultibase`` is required. ``publicKeyMultibase``, if present, must be the matching
    public key. ``id`` is informational and is not read.

    Args:
        d: The parsed key file.

    Returns:
        The private key.

    Raises:
        InvalidKeyError: ``privateKeyMultibase`` is missing or invalid, or
            ``publicKeyMultibase`` is invalid or does not match it.

    """
    private_text = d.get("privateKeyMultibase")
    if not isinstance(private_text, str):
        raise InvalidKeyError("key file has no privateKeyMultibase string")
    private = PrivateKey.from_multibase(private_text)
    if "publicKeyMultibase" in d:
        public_text = _require_str(d["publicKeyMultibase"], "publicKeyMultibase")
        if PublicKey.from_multibase(public_text) != private.public_key:
            raise InvalidKeyError("publicKeyMultibase does not match privateKeyMultibase")
    return private


def _require_bytes(value: object, what: str) -> bytes:
    """Return ``value`` if it is bytes; raise InvalidKeyError otherwise."""
    if not isinstance(value, bytes):
        raise InvalidKeyError(f"{what} must be bytes, got {type(value).__name__}")
    return value


def _require_str(value: object, what: str) -> str:
    """Return ``value`` if it is a str; raise InvalidKeyError otherwise."""
    if not isinstance(value, str):
        raise InvalidKeyError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _decode_multikey(text: object, header: bytes, what: str) -> bytes:
    """Decode ``"z" + base58btc(header || 32 bytes)`` and return the 32 bytes."""
    text = _require_str(text, what)
    if not text.startswith("z"):
        raise InvalidKeyError(
            f"{what} must be multibase base58btc (prefix 'z'), got prefix {text[:1]!r}"
        )
    try:
        data = b58decode(text[1:])
    except MalformedInputError as e:
        raise InvalidKeyError(f"{what} is not base58btc") from e
    if not data.startswith(header):
        raise InvalidKeyError(f"{_describe_multicodec(data)}, expected {what} 0x{header.hex()}")
    payload = data[len(header) :]
    if len(payload) != _KEY_LENGTH:
        raise InvalidKeyError(
            f"{what} must be 32 bytes after the 0x{header.hex()} header, got {len(payload)}"
        )
    return payload


def _describe_multicodec(data: bytes) -> str:
    """Describe the multicodec varint at the start of ``data`` for an error message."""
    code = 0
    for index, byte in enumerate(data[:4]):
        code |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if byte == 0 and index > 0:
                return "malformed multicodec header (non-minimal varint)"
            name = _MULTICODEC_NAMES.get(code)
            suffix = f" ({name})" if name else ""
            return f"unsupported multicodec 0x{code:x}{suffix}"
    return "missing or malformed multicodec header"


def _not_did_key_message(text: str) -> str:
    """Explain why ``text`` is not a did:key identifier."""
    scheme, _, rest = text.partition(":")
    if scheme == "did" and rest:
        method = rest.partition(":")[0]
        return f"unsupported DID method {method[:32]!r}, expected did:key"
    return "not a did:key identifier (expected 'did:key:z6Mk...')"


def _point_problem(raw: bytes) -> str:
    """Say why libsodium rejected a canonical encoding (only called on the error path)."""
    try:
        # crypto_core_ed25519_add only checks that its inputs decode to curve points.
        multiple = crypto_core_ed25519_add(raw, raw)
        multiple = crypto_core_ed25519_add(multiple, multiple)
        multiple = crypto_core_ed25519_add(multiple, multiple)
    except nacl.exceptions.CryptoError:
        return "not a point on the curve"
    if multiple == _IDENTITY:
        return "a small-order point"
    return "not in the prime-order subgroup"
