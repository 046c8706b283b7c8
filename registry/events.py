"""Signed federation events: push notices from one node to its peers (PURE).

When a node changes something its peers cache (a status list, its keys, an MRA), it POSTs a
small JSON event to every peer's ``/federation/events``, signed as an RFC 9421 HTTP Message
Signature (:mod:`registry.http_signatures`). The receiver checks the request and then
refetches what the event names at once; the scheduled pull stays the fallback, so an event
is only ever a hint to look sooner, never a source of trust data itself.

This module:

- defines the event body (:class:`FederationEvent`) and its strict parsing;
- builds a signed event request (:func:`build_signed_event`);
- accepts a received event (:func:`accept_event`): signature, freshness, key, issuer and
  nonce replay, in an order that never records the nonce of a request that failed;
- defines the replay store port (:class:`NonceStore`) with an in-memory implementation for
  tests and single-process use (:class:`InMemoryNonceStore`), and the rule that a request
  signing key must be listed under ``authentication`` (:func:`authentication_key_resolver`).

It does not send requests, read the clock or refetch anything: the node layer does that.

Example::

    body, headers = build_signed_event(
        event, url=peer_url, key=key, key_id="did:web:eu.customs.example#key-2", now=now
    )
    requests.post(peer_url, data=body, headers=headers, timeout=10)

    accepted = accept_event(
        method="POST", url=own_events_url, headers=request.headers, body=request.get_data(),
        resolve_key=authentication_key_resolver(peer_keys_by_did, at=now), nonces=store,
        now=now, max_skew=timedelta(seconds=60), nonce_ttl=timedelta(minutes=5),
    )
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol
from urllib.parse import urlsplit

from credentials.datetimes import parse_datetime, require_aware
from credentials.errors import MalformedInputError, TrustlaneError, VerificationError
from credentials.keys import PrivateKey, PublicKey
from credentials.strict_json import JSONObject, JSONValue, dumps, loads_object
from registry.http_signatures import (
    EVENT_TAG,
    RequestSignatureError,
    VerifiedRequest,
    new_nonce,
    sign_request,
    verify_request,
)
from registry.peer_keys import PeerKeys

__all__ = [
    "AUTHENTICATION",
    "MAX_EVENT_BYTES",
    "AcceptedEvent",
    "FederationEvent",
    "FederationEventType",
    "InMemoryNonceStore",
    "NonceStore",
    "NonceStoreFullError",
    "accept_event",
    "authentication_key_resolver",
    "build_signed_event",
    "did_of",
    "remember_nonce",
]

#: The DID document relationship under which a node lists its request-signing keys.
AUTHENTICATION: Final = "authentication"
#: Largest accepted event body; events are a few hundred bytes.
MAX_EVENT_BYTES: Final = 16 * 1024

_KNOWN_MEMBERS = frozenset({"type", "issuer", "id", "occurredAt", "statusListCredential"})
# DID Core 1.0 section 3.1 syntax (method name and method-specific id).
_ID_CHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_DID = re.compile(rf"did:[a-z0-9]+:{_ID_CHAR}*(?::{_ID_CHAR}+)*\Z")
_URN_UUID = "urn:uuid:"


class FederationEventType(StrEnum):
    """What changed at the issuing node; the receiver refetches the matching resource."""

    STATUS_LIST_UPDATED = "StatusListUpdated"
    KEY_ROTATED = "KeyRotated"
    MRA_PROPOSED = "MRAProposed"
    MRA_TERMINATED = "MRATerminated"


def _bad(message: str) -> MalformedInputError:
    return MalformedInputError(message, code="INVALID_EVENT")


@dataclass(frozen=True)
class FederationEvent:
    """One federation event, as carried in the body of ``POST /federation/events``.

    JSON members: ``type``, ``issuer`` (the sender's DID), ``id`` (``urn:uuid:...``),
    ``occurredAt`` (XML Schema ``dateTimeStamp``) and, for ``StatusListUpdated`` only,
    ``statusListCredential`` (the URL of the list to refetch). Other members are kept on a
    round trip (``extensions``) so that a newer sender does not break an older receiver.

    Attributes:
        type: The event type.
        issuer: The DID of the node the event is about; must be the signer's DID.
        id: ``urn:uuid:`` + a UUID, unique per event.
        occurred_at: When the change happened (aware UTC).
        status_list_credential: The status list URL (``StatusListUpdated`` only).
        extensions: Unknown members, kept as received.

    """

    type: FederationEventType
    issuer: str
    id: str
    occurred_at: datetime
    status_list_credential: str | None = None
    extensions: Mapping[str, JSONValue] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        """Check the invariants.

        Raises:
            MalformedInputError: A member is missing or wrong (code ``INVALID_EVENT``).

        """
        if not isinstance(self.type, FederationEventType):
            raise _bad(f"unknown event type {self.type!r}")
        if not isinstance(self.issuer, str) or not _DID.match(self.issuer):
            raise _bad(f"issuer must be a DID, not {self.issuer!r}")
        if not isinstance(self.id, str) or not _is_urn_uuid(self.id):
            raise _bad(f"id must be a urn:uuid: URN, not {self.id!r}")
        if not isinstance(self.occurred_at, datetime):
            raise _bad("occurredAt must be a datetime")
        try:
            require_aware(self.occurred_at)
        except ValueError as e:
            raise _bad("occurredAt must be timezone-aware") from e
        if self.type is FederationEventType.STATUS_LIST_UPDATED:
            if not _is_http_url(self.status_list_credential):
                raise _bad("a StatusListUpdated event needs an http(s) statusListCredential")
        elif self.status_list_credential is not None:
            raise _bad(f"statusListCredential is not allowed in a {self.type} event")
        clash = _KNOWN_MEMBERS & set(self.extensions)
        if clash:
            raise _bad(f"extensions must not redefine {', '.join(sorted(clash))}")
        object.__setattr__(self, "extensions", MappingProxyType(dict(self.extensions)))

    @classmethod
    def from_dict(cls, obj: JSONObject) -> FederationEvent:
        """Build an event from a parsed JSON object.

        Args:
            obj: The parsed body.

        Returns:
            The event.

        Raises:
            MalformedInputError: A member is missing, of the wrong type or invalid
                (code ``INVALID_EVENT``).

        """
        if not isinstance(obj, dict):
            raise _bad("an event must be a JSON object")
        kind = obj.get("type")
        try:
            event_type = FederationEventType(kind if isinstance(kind, str) else "")
        except ValueError as e:
            raise _bad(f"unknown event type {kind!r}") from e
        for name in ("issuer", "id", "occurredAt"):
            if not isinstance(obj.get(name), str):
                raise _bad(f"{name} must be a string")
        list_url = obj.get("statusListCredential")
        if list_url is not None and not isinstance(list_url, str):
            raise _bad("statusListCredential must be a string")
        try:
            occurred_at = parse_datetime(obj["occurredAt"], field="occurredAt")
        except MalformedInputError as e:
            raise _bad(e.message) from e
        return cls(
            type=event_type,
            issuer=str(obj["issuer"]),
            id=str(obj["id"]),
            occurred_at=occurred_at,
            status_list_credential=list_url,
            extensions={k: v for k, v in obj.items() if k not in _KNOWN_MEMBERS},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FederationEvent:
        """Parse an event body with the strict JSON parser.

        Args:
            data: The body bytes (at most :data:`MAX_EVENT_BYTES`).

        Returns:
            The event.

        Raises:
            MalformedInputError: The body is not strict JSON (``MALFORMED_JSON``) or not a
                valid event (``INVALID_EVENT``).

        """
        return cls.from_dict(loads_object(data, max_bytes=MAX_EVENT_BYTES))

    def to_dict(self) -> JSONObject:
        """The JSON object of this event (known members first, then extensions).

        Returns:
            A new dict; ``from_dict(e.to_dict()) == e``.

        """
        obj: JSONObject = {
            "type": self.type.value,
            "issuer": self.issuer,
            "id": self.id,
            "occurredAt": _format_instant(self.occurred_at),
        }
        if self.status_list_credential is not None:
            obj["statusListCredential"] = self.status_list_credential
        obj.update(self.extensions)
        return obj

    def to_bytes(self) -> bytes:
        """The compact JSON body to send (not canonical: the bytes are covered by digest).

        Returns:
            UTF-8 JSON bytes.

        Raises:
            MalformedJSONError: An extension value cannot be written as JSON.

        """
        return dumps(self.to_dict())


@dataclass(frozen=True)
class AcceptedEvent:
    """An event whose request signature, freshness, issuer and nonce all checked out.

    Attributes:
        event: The parsed event.
        key_id: The DID URL of the key that signed the request.

    """

    event: FederationEvent
    key_id: str


class NonceStoreFullError(TrustlaneError):
    """The replay store is full of unexpired nonces; the request cannot be checked now.

    This is neither the sender's fault nor a verification failure: answer 503 and let the
    sender retry (the scheduled pull covers the gap).
    """

    code = "NONCE_STORE_FULL"


class NonceStore(Protocol):
    """Remembers request nonces until they expire, to refuse replays."""

    def remember(self, key_id: str, nonce: str, expires: datetime) -> bool:
        """Record ``(key_id, nonce)`` until ``expires``, atomically.

        Args:
            key_id: The DID URL of the signing key.
            nonce: The signed nonce.
            expires: Until when the pair must be remembered (aware).

        Returns:
            True if the pair was new; False if it is already remembered (a replay).

        Raises:
            NonceStoreFullError: The store cannot take another entry.

        """
        ...


class InMemoryNonceStore:
    """A bounded, in-process :class:`NonceStore` (tests and single-process nodes).

    Entries are purged once their ``expires`` has passed, by the injected ``clock``. When the
    store is full of unexpired entries it refuses new ones (fail closed) rather than forget
    one that might still be replayed.
    """

    def __init__(self, *, clock: Callable[[], datetime], max_entries: int = 100_000) -> None:
        """Create an empty store.

        Args:
            clock: Returns the current time (aware); tests pass a fixed or stepping clock.
            max_entries: The most unexpired nonces held at once.

        Raises:
            ValueError: ``max_entries`` is not positive.

        """
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._clock = clock
        self._max_entries = max_entries
        self._expires: dict[tuple[str, str], datetime] = {}
        self._queue: list[tuple[datetime, str, str]] = []

    def __len__(self) -> int:
        """The number of nonces held (expired ones may linger until the next purge)."""
        return len(self._expires)

    def remember(self, key_id: str, nonce: str, expires: datetime) -> bool:
        """Record ``(key_id, nonce)`` until ``expires`` (see :class:`NonceStore`).

        Raises:
            NonceStoreFullError: ``max_entries`` unexpired nonces are held.
            ValueError: ``expires`` is naive.

        """
        require_aware(expires)
        self.purge(self._clock())
        entry = (key_id, nonce)
        if entry in self._expires:
            return False
        if len(self._expires) >= self._max_entries:
            raise NonceStoreFullError(
                f"{len(self._expires)} unexpired nonces held; refusing more until some expire"
            )
        self._expires[entry] = expires
        heapq.heappush(self._queue, (expires, key_id, nonce))
        return True

    def purge(self, now: datetime) -> int:
        """Forget the nonces whose ``expires`` is at or before ``now``.

        Args:
            now: The reference time (aware).

        Returns:
            How many nonces were forgotten.

        """
        require_aware(now)
        purged = 0
        while self._queue and self._queue[0][0] <= now:
            _, key_id, nonce = heapq.heappop(self._queue)
            del self._expires[(key_id, nonce)]
            purged += 1
        return purged


def did_of(key_id: str) -> str:
    """The DID part of a DID URL (everything before ``#``)."""
    return key_id.partition("#")[0]


def authentication_key_resolver(
    lookup_peer: Callable[[str], PeerKeys], *, at: datetime
) -> Callable[[str], PublicKey]:
    """A ``resolve_key`` for :func:`accept_event` that allows ``authentication`` keys only.

    Trustlane nodes list the key they sign requests with under ``authentication`` in their
    did:web document (``assertionMethod`` keys sign credentials, and a key listed only there
    must not be able to sign requests).

    Args:
        lookup_peer: Returns the verified, cached keys of the peer with this DID; raises
            ``LookupError`` or a :class:`TrustlaneError` for a DID that is not a peer.
        at: The time the key must be valid at (the request's ``now``).

    Returns:
        A resolver raising :class:`VerificationError` (or the lookup's error) for a key that
        is unknown, revoked at ``at`` or not listed under ``authentication``.

    """

    def resolve(key_id: str) -> PublicKey:
        method = lookup_peer(did_of(key_id)).resolve(key_id, at)
        if AUTHENTICATION not in method.relationships:
            raise VerificationError(
                f"{key_id} is not listed under {AUTHENTICATION}", code="KEY_NOT_FOR_REQUESTS"
            )
        return method.public_key

    return resolve


def build_signed_event(
    event: FederationEvent,
    *,
    url: str,
    key: PrivateKey,
    key_id: str,
    now: datetime,
    nonce: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Serialize and sign an event for ``POST`` to a peer's events endpoint.

    Args:
        event: The event; its ``issuer`` must be the DID of ``key_id``.
        url: The peer's ``/federation/events`` URL (absolute, encoded).
        key: This node's request-signing key (listed under ``authentication``).
        key_id: The DID URL of ``key``.
        now: The signing time (aware).
        nonce: A nonce to use; a fresh one from :func:`new_nonce` when None.

    Returns:
        The body and the headers (``Content-Type``, ``Content-Digest``, ``Signature-Input``,
        ``Signature``), ready for ``requests.post(url, data=body, headers=headers)``.

    Raises:
        MalformedInputError: The issuer is not the key's DID (``INVALID_EVENT``) or the
            request cannot be signed (``INVALID_REQUEST``).
        ValueError: ``now`` is naive.

    """
    if "#" not in key_id or event.issuer != did_of(key_id):
        raise _bad(f"event issuer {event.issuer} cannot be signed for by {key_id}")
    body = event.to_bytes()
    headers = {"Content-Type": "application/json"}
    signature_headers = sign_request(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        key=key,
        key_id=key_id,
        created=now,
        nonce=new_nonce() if nonce is None else nonce,
        tag=EVENT_TAG,
    )
    return body, {**headers, **signature_headers}


def remember_nonce(
    verified: VerifiedRequest,
    *,
    nonces: NonceStore,
    now: datetime,
    max_skew: timedelta,
    nonce_ttl: timedelta,
) -> None:
    """Record a verified request's nonce, last of all checks; refuse a replay.

    The pair ``(keyid, nonce)`` is remembered for ``nonce_ttl``, and at least until the
    request stops being fresh (``created + max_skew``), so that no replay outlives its nonce.
    Call it only after every other check passed: a request that fails a check must never use
    up its nonce.

    Raises:
        RequestSignatureError: The nonce was seen (``REPLAYED_REQUEST``).
        NonceStoreFullError: The replay store cannot take the nonce.
        ValueError: ``nonce_ttl`` is negative.

    """
    if nonce_ttl < timedelta(0):
        raise ValueError("nonce_ttl must not be negative")
    expires = max(now + nonce_ttl, verified.created + max_skew)
    if not nonces.remember(verified.key_id, verified.nonce, expires):
        raise RequestSignatureError(
            f"nonce {verified.nonce} from {verified.key_id} was already used",
            code="REPLAYED_REQUEST",
        )


def accept_event(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], PublicKey],
    nonces: NonceStore,
    now: datetime,
    max_skew: timedelta,
    nonce_ttl: timedelta,
) -> AcceptedEvent:
    """Check a received federation event request; record its nonce only if all else passed.

    Steps:

    1. :func:`~registry.http_signatures.verify_request`: one signature with tag
       ``trustlane-event``, fresh within ``max_skew``, key from ``resolve_key``, Ed25519
       signature, required coverage, body digest (RFC 9421 section 3.2, RFC 9530).
    2. Parse the body (it is now known to be what the key holder sent).
    3. The event's ``issuer`` is the DID of the signing key: a peer speaks only for itself.
    4. Remember ``(keyid, nonce)``; a pair already remembered is a replay. This comes last,
       so a request that fails any check never uses up its nonce. The pair is remembered
       for ``nonce_ttl``, and at least until the request stops being fresh
       (``created + max_skew``), so that no replay can outlive its nonce.

    The caller then refetches what the event names, from the peer it already knows: for
    ``StatusListUpdated``, only a status list URL it already tracks for that issuer (the URL
    in the event selects; it does not authorise a fetch from anywhere).

    Args:
        method: The received method.
        url: This node's own events URL, from its configured public base URL (see
            :func:`~registry.http_signatures.verify_request`).
        headers: The received fields.
        body: The received body bytes.
        resolve_key: See :func:`authentication_key_resolver`.
        nonces: The replay store.
        now: The reference time (aware), fixed once for the request.
        max_skew: The largest accepted distance between ``created`` and ``now``.
        nonce_ttl: How long to remember a nonce (at least ``created + max_skew``).

    Returns:
        The event and the key that signed it.

    Raises:
        RequestSignatureError: The signature check failed (see its codes), the issuer is not
            the signer (``ISSUER_MISMATCH``) or the nonce was seen (``REPLAYED_REQUEST``).
        MalformedInputError: The signed body is not a valid event.
        NonceStoreFullError: The replay store cannot take the nonce.
        ValueError: ``now`` is naive or a duration is negative.

    """
    # Step 1.
    verified = verify_request(
        method=method,
        url=url,
        headers=headers,
        body=body,
        resolve_key=resolve_key,
        now=now,
        max_skew=max_skew,
        tag=EVENT_TAG,
    )
    # Step 2.
    event = FederationEvent.from_bytes(body)
    # Step 3.
    if event.issuer != did_of(verified.key_id):
        raise RequestSignatureError(
            f"event issuer {event.issuer} is not the signer {did_of(verified.key_id)}",
            code="ISSUER_MISMATCH",
        )
    # Step 4.
    remember_nonce(verified, nonces=nonces, now=now, max_skew=max_skew, nonce_ttl=nonce_ttl)
    return AcceptedEvent(event=event, key_id=verified.key_id)


def _is_urn_uuid(value: str) -> bool:
    if not value.startswith(_URN_UUID):
        return False
    text = value[len(_URN_UUID) :]
    try:
        # Only the canonical lower-case 8-4-4-4-12 form, so that one event has one id string.
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value) or not value.isascii():
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def _format_instant(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
