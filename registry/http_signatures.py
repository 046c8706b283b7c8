"""RFC 9421 HTTP Message Signatures for node-to-node requests, with Ed25519 keys (PURE).

A node signs the requests it sends to its peers (for example federation events) and checks
the requests it receives. This module:

- plugs our Ed25519 keys into the ``http-message-signatures`` library as the RFC 9421
  ``ed25519`` algorithm (section 3.3.6), so that :mod:`credentials.keys` stays the only
  module making raw Ed25519 calls (:class:`Ed25519Algorithm`);
- signs a request (:func:`sign_request`): ``Content-Digest`` (RFC 9530, sha-256) for the
  body, and one signature labelled ``trustlane`` covering ``@method``, ``@target-uri``,
  ``content-type`` (when present) and ``content-digest``, with the parameters ``created``,
  ``keyid`` (the DID URL of the key), ``alg="ed25519"``, ``nonce`` and ``tag``;
- verifies a request (:func:`verify_request`) against a caller-supplied key resolver and a
  caller-supplied ``now``, raising :class:`RequestSignatureError` with a stable code.

Only one signature per request is accepted (RFC 9421 allows several; a node-to-node request
has exactly one signer, and refusing the rest keeps "which signature did we trust?" out of
the question). Nothing here reads the clock, touches the network or remembers nonces: replay
detection needs state and lives with the caller (see :mod:`registry.events`).
:func:`new_nonce` draws randomness from the OS CSPRNG; everything else is deterministic.

Which keys may sign requests is the resolver's business. Trustlane nodes list their current
request-signing key under the ``authentication`` relationship of their did:web document;
:func:`registry.events.authentication_key_resolver` enforces that.

Example::

    headers = sign_request(
        method="POST", url="https://us.customs.example/federation/events",
        headers={"Content-Type": "application/json"}, body=body, key=key,
        key_id="did:web:eu.customs.example#key-2", created=now, nonce=new_nonce(),
    )
    verified = verify_request(
        method="POST", url="https://us.customs.example/federation/events",
        headers=received_headers, body=body, resolve_key=resolve, now=now,
        max_skew=timedelta(seconds=60),
    )
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import http_sf
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    VerifyResult,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException, InvalidSignature
from http_sf.compat import InnerList

from credentials.datetimes import require_aware
from credentials.errors import MalformedInputError, TrustlaneError, VerificationError
from credentials.keys import PrivateKey, PublicKey

__all__ = [
    "ALGORITHM_ID",
    "EVENT_TAG",
    "SIGNATURE_LABEL",
    "Ed25519Algorithm",
    "RequestSignatureError",
    "VerifiedRequest",
    "new_nonce",
    "sign_request",
    "verify_request",
]

#: The RFC 9421 algorithm name (section 3.3.6, "EdDSA Using Curve edwards25519").
ALGORITHM_ID: Final = "ed25519"
#: The signed ``tag`` parameter of node-to-node federation requests.
EVENT_TAG: Final = "trustlane-event"
#: The (unsigned) dictionary label of the one signature a trustlane request carries.
SIGNATURE_LABEL: Final = "trustlane"

# A nonce is base64url text of at least 128 bits (22 characters); the upper bound keeps
# what a replay store must hold small.
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,128}\Z")
_NONCE_BYTES = 16
# Serialized component identifiers, as they appear in VerifyResult.covered_components.
_METHOD, _TARGET_URI = '"@method"', '"@target-uri"'
_AUTHORITY, _PATH = '"@authority"', '"@path"'
_CONTENT_TYPE, _CONTENT_DIGEST = '"content-type"', '"content-digest"'
_ADDED_FIELDS = ("Content-Digest", "Signature-Input", "Signature")


class RequestSignatureError(VerificationError):
    """A request's HTTP message signature is missing, unacceptable or does not verify.

    Codes (``code`` attribute):

    - ``MISSING_SIGNATURE``: no ``Signature`` / ``Signature-Input`` field, or an empty one.
    - ``MULTIPLE_SIGNATURES``: more than one signature label (only one is accepted).
    - ``BAD_SIGNATURE``: malformed signature fields, an unknown parameter or algorithm, a
      covered field that is missing, or an Ed25519 signature that does not verify.
    - ``UNKNOWN_KEY``: the key resolver refused ``keyid`` (unknown, revoked, not allowed).
    - ``STALE_REQUEST``: ``created`` is missing or more than ``max_skew`` away from ``now``,
      or ``expires`` has passed.
    - ``COVERAGE``: a required component (``@method``, ``@target-uri`` or ``@authority`` +
      ``@path``, ``content-digest``, ``content-type`` when present) is not covered, or the
      ``tag`` or ``nonce`` parameter is missing or wrong.
    - ``DIGEST_MISMATCH``: the body does not match the signed ``Content-Digest``.
    - ``REPLAYED_REQUEST``, ``ISSUER_MISMATCH``: raised by :mod:`registry.events`.
    """

    code = "BAD_SIGNATURE"


@dataclass(frozen=True)
class VerifiedRequest:
    """What a verified request signature says, read from the signed parameters only.

    Attributes:
        key_id: The signed ``keyid``: the DID URL of the key that signed.
        created: The signed ``created`` time (whole seconds, aware UTC).
        nonce: The signed ``nonce``, for the caller's replay check.

    """

    key_id: str
    created: datetime
    nonce: str


class Ed25519Algorithm(HTTPSignatureAlgorithm):
    """The RFC 9421 ``ed25519`` algorithm on top of :mod:`credentials.keys`.

    The library's stock ``ED25519`` class calls ``cryptography`` directly; this one signs
    with :meth:`PrivateKey.sign` and verifies with :meth:`PublicKey.verify`, which also
    refuse small-order keys and malleable (S >= L) signatures. The signature bytes are the
    same 64-byte RFC 8032 signature, so either class verifies what the other signed.
    """

    algorithm_id = ALGORITHM_ID

    def __init__(
        self, public_key: PublicKey | None = None, private_key: PrivateKey | None = None
    ) -> None:
        """Hold the key the library resolved for this signature.

        Args:
            public_key: The key to verify with.
            private_key: The key to sign with.

        Raises:
            HTTPMessageSignaturesException: A key is not one of our key types (the library
                turns this into a failed verification).

        """
        # The base __init__ only raises NotImplementedError, so it is not called.
        if public_key is not None and not isinstance(public_key, PublicKey):
            raise HTTPMessageSignaturesException("ed25519 needs a credentials.keys.PublicKey")
        if private_key is not None and not isinstance(private_key, PrivateKey):
            raise HTTPMessageSignaturesException("ed25519 needs a credentials.keys.PrivateKey")
        self._public_key = public_key
        self._private_key = private_key

    def sign(self, message: bytes) -> bytes:
        """Sign the signature base (RFC 9421 section 3.3.6).

        Args:
            message: The signature base bytes.

        Returns:
            The 64-byte Ed25519 signature.

        Raises:
            HTTPMessageSignaturesException: No private key was given.

        """
        if self._private_key is None:
            raise HTTPMessageSignaturesException("no private key to sign with")
        return self._private_key.sign(message)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Verify a signature over the signature base (RFC 9421 section 3.3.6).

        Args:
            signature: The decoded ``Signature`` member.
            message: The signature base bytes, rebuilt from the received request.

        Raises:
            InvalidSignatureError: The signature does not verify.
            HTTPMessageSignaturesException: No public key was given.

        """
        if self._public_key is None:
            raise HTTPMessageSignaturesException("no public key to verify with")
        self._public_key.verify(signature, message)


class _Refused(InvalidSignature):
    """A refusal with our error code; the library re-raises InvalidSignature unchanged."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class _SigningKey(HTTPSignatureKeyResolver):
    """Hands the one configured private key to the library."""

    def __init__(self, key_id: str, key: PrivateKey) -> None:
        self._key_id = key_id
        self._key = key

    def resolve_private_key(self, key_id: str) -> PrivateKey:
        if key_id != self._key_id:  # Cannot happen: sign() passes our own key_id back.
            raise HTTPMessageSignaturesException(f"no private key for {key_id}")
        return self._key


class _VerificationKeys(HTTPSignatureKeyResolver):
    """Adapts the caller's resolver; its refusals become UNKNOWN_KEY."""

    def __init__(self, resolve_key: Callable[[str], PublicKey]) -> None:
        self._resolve_key = resolve_key

    def resolve_public_key(self, key_id: str) -> PublicKey:
        try:
            return self._resolve_key(key_id)
        except (TrustlaneError, LookupError) as e:
            detail = e.diagnostics() if isinstance(e, TrustlaneError) else "not found"
            raise _Refused(f"key {key_id!r} refused: {detail}", code="UNKNOWN_KEY") from e


class _Verifier(HTTPMessageVerifier):
    """The library's verifier, with a freshness check against the caller's ``now``."""

    def __init__(
        self, *, resolve_key: Callable[[str], PublicKey], now: datetime, max_skew: timedelta
    ) -> None:
        super().__init__(
            signature_algorithm=Ed25519Algorithm, key_resolver=_VerificationKeys(resolve_key)
        )
        self._now = now
        self._max_skew = max_skew

    def validate_created_and_expires(
        self, sig_input: InnerList, max_age: timedelta | None = None
    ) -> None:
        """Check ``created`` and ``expires`` (RFC 9421 section 3.2, step 8).

        The library runs this before resolving the key. Its own version reads the wall clock;
        this one uses the ``now`` given to :func:`verify_request`, and the same ``max_skew``
        bounds both the age of a request and how far in the future it may claim to be.
        Parameter types were already checked (integers) by the library.
        """
        created = sig_input.params.get("created")
        if not isinstance(created, int) or isinstance(created, bool):
            raise _Refused('the signature has no "created" parameter', code="STALE_REQUEST")
        created_at = _from_epoch(created)
        if created_at is None or not (
            self._now - self._max_skew <= created_at <= self._now + self._max_skew
        ):
            raise _Refused(
                f"created={created} is more than {self._max_skew} away from now",
                code="STALE_REQUEST",
            )
        expires = sig_input.params.get("expires")
        if isinstance(expires, int) and not isinstance(expires, bool):
            expires_at = _from_epoch(expires)
            if expires_at is None or expires_at < self._now:
                raise _Refused(f"the signature expired (expires={expires})", code="STALE_REQUEST")


def new_nonce() -> str:
    """Draw a fresh request nonce: 128 random bits, base64url without padding.

    Returns:
        A 22-character nonce.

    """
    return secrets.token_urlsafe(_NONCE_BYTES)


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key: PrivateKey,
    key_id: str,
    created: datetime,
    nonce: str,
    tag: str = EVENT_TAG,
) -> dict[str, str]:
    """Sign a request with one RFC 9421 signature and an RFC 9530 ``Content-Digest``.

    Covered components: ``@method``, ``@target-uri``, ``content-type`` (when ``headers`` has
    one) and ``content-digest``; parameters ``created``, ``keyid``, ``alg``, ``nonce`` and
    ``tag``. An existing ``Content-Digest`` in ``headers`` is kept if it matches ``body``
    (and is then not returned).

    Args:
        method: The request method, upper case.
        url: The absolute, encoded URL the request is sent to.
        headers: The fields the request will carry (names are case-insensitive).
        body: The exact body bytes that will be sent.
        key: The signing key.
        key_id: The DID URL of ``key``, e.g. ``did:web:eu.customs.example#key-2``.
        created: The signing time (aware); sent as whole seconds.
        nonce: A fresh nonce from :func:`new_nonce` (22 to 128 base64url characters).
        tag: The application tag the receiver expects.

    Returns:
        The fields to add: ``Signature-Input``, ``Signature`` and, unless ``headers`` had
        one, ``Content-Digest``.

    Raises:
        MalformedInputError: The nonce, URL, method or a field cannot be signed
            (code ``INVALID_REQUEST``).
        ValueError: ``created`` is naive.

    """
    require_aware(created)
    if not _NONCE.match(nonce):
        raise MalformedInputError(
            "nonce must be 22 to 128 base64url characters", code="INVALID_REQUEST"
        )
    message = _Message(method=method, url=url, headers=_Fields(headers.items()))
    had_digest = "content-digest" in message.headers
    components = ["@method", "@target-uri"]
    if "content-type" in message.headers:
        components.append("content-type")
    components.append("content-digest")
    signer = HTTPMessageSigner(
        signature_algorithm=Ed25519Algorithm, key_resolver=_SigningKey(key_id, key)
    )
    try:
        signer.sign(
            message,
            key_id=key_id,
            created=created,
            nonce=nonce,
            tag=tag,
            label=SIGNATURE_LABEL,
            covered_component_ids=components,
            body=body,
            use_existing_digest=True,
        )
    except HTTPMessageSignaturesException as e:
        raise MalformedInputError(f"cannot sign the request: {e}", code="INVALID_REQUEST") from e
    added = ("Signature-Input", "Signature") if had_digest else _ADDED_FIELDS
    return {name: message.headers.get(name) or "" for name in added}


def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], PublicKey],
    now: datetime,
    max_skew: timedelta,
    tag: str = EVENT_TAG,
) -> VerifiedRequest:
    """Verify the one RFC 9421 signature of a received request.

    Steps (RFC 9421 section 3.2, with RFC 9530 for the body):

    1. ``Signature`` and ``Signature-Input`` are present and hold exactly one label.
    2. ``created`` is within ``max_skew`` of ``now`` and ``expires`` (if any) has not passed.
    3. ``keyid`` resolves to a key (``resolve_key``); ``alg``, if present, is ``ed25519``.
    4. The signature base is rebuilt from this request and the Ed25519 signature verifies.
    5. The signed parameters and components are what we require ("see what is signed"):
       ``tag``, ``nonce``, ``@method``, ``@target-uri`` (or ``@authority`` and ``@path``),
       ``content-digest``, and ``content-type`` when the request has one.
    6. ``body`` matches the signed ``Content-Digest``.

    Replay is not checked here: the caller remembers ``(key_id, nonce)``.

    Args:
        method: The received method.
        url: The URL this node is reached at, built from its configured public base URL and
            the request path, NOT from the ``Host`` header: ``@target-uri`` binds the request
            to its intended receiver, and a ``Host``-derived URL would let a request meant
            for another node be replayed here.
        headers: The received fields (names case-insensitive). A multi-valued mapping whose
            ``items()`` repeats a name keeps every field line.
        body: The received body bytes, before any decoding.
        resolve_key: Maps a ``keyid`` to the public key allowed to sign requests; raises a
            :class:`TrustlaneError` or ``LookupError`` to refuse it.
        now: The reference time (aware).
        max_skew: The largest accepted distance between ``created`` and ``now``.
        tag: The required ``tag`` parameter.

    Returns:
        The signed ``keyid``, ``created`` and ``nonce``.

    Raises:
        RequestSignatureError: Any check failed; ``code`` says which (see the class).
        ValueError: ``now`` is naive or ``max_skew`` is negative.

    """
    require_aware(now)
    if max_skew < timedelta(0):
        raise ValueError("max_skew must not be negative")
    fields = _Fields(headers.items())
    # Step 1.
    _require_one_label(fields, "Signature-Input")
    _require_one_label(fields, "Signature")
    # Steps 2 to 4 run inside the library: its verifier calls our freshness hook, our key
    # resolver and our Ed25519 algorithm, in that order.
    verifier = _Verifier(resolve_key=resolve_key, now=now, max_skew=max_skew)
    try:
        results = verifier.verify(
            _Message(method=method, url=url, headers=fields), max_age=None, body=None
        )
    except _Refused as e:
        raise RequestSignatureError(e.args[0], code=e.code) from e
    except HTTPMessageSignaturesException as e:
        raise RequestSignatureError(f"signature does not verify: {e}", code="BAD_SIGNATURE") from e
    if len(results) != 1:  # Cannot happen after step 1; kept so that it fails closed.
        raise RequestSignatureError("expected exactly one signature", code="MULTIPLE_SIGNATURES")
    result = results[0]
    # Step 5: from here on, only values the signature covers are used.
    verified = _check_coverage(result, tag=tag, has_content_type="content-type" in fields)
    # Step 6.
    try:
        ContentDigest.verify_components(
            {_CONTENT_DIGEST: result.covered_components[_CONTENT_DIGEST]}, body
        )
    except HTTPMessageSignaturesException as e:
        raise RequestSignatureError(
            f"body does not match Content-Digest: {e}", code="DIGEST_MISMATCH"
        ) from e
    return verified


def _check_coverage(result: VerifyResult, *, tag: str, has_content_type: bool) -> VerifiedRequest:
    covered = result.covered_components
    missing = [c for c in (_METHOD, _CONTENT_DIGEST) if c not in covered]
    if _TARGET_URI not in covered and not (_AUTHORITY in covered and _PATH in covered):
        missing.append(f"{_TARGET_URI} (or {_AUTHORITY} and {_PATH})")
    if has_content_type and _CONTENT_TYPE not in covered:
        missing.append(_CONTENT_TYPE)
    if missing:
        raise RequestSignatureError(
            f"the signature does not cover {', '.join(missing)}", code="COVERAGE"
        )
    params = result.parameters
    if params.get("tag") != tag:
        raise RequestSignatureError(
            f"the signature tag is {params.get('tag')!r}, expected {tag!r}", code="COVERAGE"
        )
    nonce, key_id, created = params.get("nonce"), params.get("keyid"), params.get("created")
    if not isinstance(nonce, str) or not _NONCE.match(nonce):
        raise RequestSignatureError(
            "the signature needs a nonce of 22 to 128 base64url characters", code="COVERAGE"
        )
    created_at = _from_epoch(created) if isinstance(created, int) else None
    if not isinstance(key_id, str) or created_at is None:  # Checked by the library already.
        raise RequestSignatureError("the signature lacks keyid or created", code="BAD_SIGNATURE")
    return VerifiedRequest(key_id=key_id, created=created_at, nonce=nonce)


def _require_one_label(fields: _Fields, name: str) -> None:
    value = fields.get(name)
    if value is None or not value.strip(" \t"):
        raise RequestSignatureError(f"the request has no {name} field", code="MISSING_SIGNATURE")

    def reject_duplicate(label: str, context: str) -> None:
        if context == "dictionary":
            raise ValueError(f"duplicate label {label!r}")

    try:
        parsed = http_sf.parse(
            value.encode(), tltype="dictionary", on_duplicate_key=reject_duplicate
        )
    except (ValueError, TypeError) as e:  # http_sf.StructuredFieldError is a ValueError.
        raise RequestSignatureError(
            f"{name} is not a Structured Field Dictionary: {e}", code="BAD_SIGNATURE"
        ) from e
    if not isinstance(parsed, dict) or not parsed:
        raise RequestSignatureError(f"{name} holds no signature", code="MISSING_SIGNATURE")
    if len(parsed) > 1:
        raise RequestSignatureError(
            f"{name} holds {len(parsed)} signatures; exactly one is accepted",
            code="MULTIPLE_SIGNATURES",
        )


def _from_epoch(seconds: object) -> datetime | None:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


class _Fields:
    """HTTP field lines in order, with case-insensitive names.

    This is the header container the library reads (``items()`` keeps every field line)
    and writes (``__setitem__`` / ``__delitem__`` when signing).
    """

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self._lines = [(str(name), str(value)) for name, value in lines]

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)

    def __setitem__(self, name: str, value: str) -> None:
        del self[name]
        self._lines.append((name, value))

    def __delitem__(self, name: str) -> None:
        self._lines = [(n, v) for n, v in self._lines if n.lower() != name.lower()]

    def get(self, name: str) -> str | None:
        """All lines of field ``name`` combined with ", " (RFC 9110 section 5.3), or None."""
        values = [v for n, v in self._lines if n.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass
class _Message:
    """The request shape the library reads: ``method``, ``url`` and ``headers``."""

    method: str
    url: str
    headers: _Fields
