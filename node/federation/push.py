"""Signed push events between nodes (RFC 9421 HTTP Message Signatures).

Sending: when this node changes a status bit, a ``StatusListUpdated`` event goes to every
trusted peer's ``POST /federation/events``, signed with the node's current key (listed under
``authentication``). Sending runs on a small thread pool so a slow peer never delays the
status change; the scheduled pull is the fallback when a push is lost.

Key announcements (``KeyRotated``) are sent by :mod:`node.federation.rotation`, one peer at
a time and synchronously, so that a 2xx answer counts as the peer's acknowledgement.

Receiving: the request signature, key (a trusted peer's authentication key), freshness and
nonce are checked before anything changes; then the named status list is refetched at once.
A ``KeyRotated`` event holds the new key as pending; it is also accepted from a peer
untrusted only for keys it had not announced (which it may lift), and never names a key
reported compromised.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.keys import PublicKey
from credentials.strict_json import JSONObject
from federation_config.federation import PushSettings
from node.federation.fetcher import Fetcher
from node.federation.peers import PeerService
from node.federation.refetch import DID_DOCUMENT_PREFIX
from node.services.identity import NodeIdentity, SigningKey
from node.services.status import StatusChange
from node.storage import federation_repo as repo
from node.storage.db import Database
from node.storage.documents import serialize_document
from node.storage.federation_repo import PeerRecord
from registry.events import (
    AcceptedEvent,
    FederationEvent,
    FederationEventType,
    accept_event,
    authentication_key_resolver,
    build_signed_event,
    did_of,
    remember_nonce,
)
from registry.http_signatures import (
    RequestSignatureError,
    new_nonce,
    sign_request,
    verify_request,
)

__all__ = ["AGREEMENTS_PATH", "AGREEMENT_TAG", "EVENTS_PATH", "PushService", "SQLNonceStore"]

EVENTS_PATH = "/federation/events"
AGREEMENTS_PATH = "/federation/agreements"
AGREEMENT_TAG = "trustlane-agreement"
log = logging.getLogger("trustlane.push")


class SQLNonceStore:
    """Nonces of accepted requests, shared by every worker through the database."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def remember(self, key_id: str, nonce: str, expires: datetime) -> bool:
        """Record a nonce; False when it was seen before (a replay)."""
        with self._db.write() as conn:
            return repo.remember_nonce(conn, key_id, nonce, expires, self._clock())


class PushService:
    """Sends and receives signed federation events."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        peers: PeerService,
        fetcher: Fetcher,
        settings: PushSettings,
        base_url: str,
        clock: Callable[[], datetime],
        refetch: Callable[..., object],
    ) -> None:
        self._refetch = refetch
        self._identity = identity
        self._peers = peers
        self._fetcher = fetcher
        self._settings = settings
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._nonces = SQLNonceStore(db, clock)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="trustlane-push")
        self._closed = False

    # -- sending -----------------------------------------------------------------------

    def on_status_change(self, change: StatusChange) -> None:
        """Listener for :class:`~node.services.status.StatusService`: push to every peer."""
        if not self._settings.enabled or self._closed:
            return
        event = FederationEvent(
            type=FederationEventType.STATUS_LIST_UPDATED,
            issuer=self._identity.did,
            id=f"urn:uuid:{uuid.uuid4()}",
            occurred_at=self._clock().replace(microsecond=0),
            status_list_credential=change.status_list_credential,
        )
        for peer in self._peers.peers():
            if peer.trusted:
                try:
                    self._pool.submit(self._send, peer.base_url, peer.ca_bundle, event)
                except RuntimeError:  # closed meanwhile (shutdown): the pull still runs
                    return

    def send_key_announcement(
        self, peer: PeerRecord, *, new_key: str, start: datetime, signer: SigningKey
    ) -> str | None:
        """Announce ``new_key`` to one peer, signed by a key the peer still pins.

        The event (``KeyRotated`` with ``newKey``, ``occurredAt`` = the key's start) is
        signed by ``signer``, which the peer holds under ``authentication`` in its copy of
        this node's DID document. Synchronous: a 2xx answer means the peer recorded the key
        as pending (its acknowledgement).

        Returns:
            None when the peer acknowledged; otherwise why not.
        """
        event = FederationEvent(
            type=FederationEventType.KEY_ROTATED,
            issuer=self._identity.did,
            id=f"urn:uuid:{uuid.uuid4()}",
            occurred_at=start.replace(microsecond=0),
            extensions={"newKey": new_key},
        )
        return self._post(peer.base_url, peer.ca_bundle, event, signer)

    def _send(self, base_url: str, ca_bundle: str | None, event: FederationEvent) -> None:
        try:
            self._post_event(base_url, ca_bundle, event, self._identity.current())
        except Exception:
            # A thread-pool task must not fail silently: the pull is the fallback, but the
            # operator has to see why the push did not go out.
            log.exception("push to %s failed unexpectedly", base_url + EVENTS_PATH)

    def _post_event(
        self, base_url: str, ca_bundle: str | None, event: FederationEvent, signer: SigningKey
    ) -> bool:
        """Sign ``event`` with ``signer`` and POST it to a peer; False (logged) on failure."""
        return self._post(base_url, ca_bundle, event, signer) is None

    def _post(
        self, base_url: str, ca_bundle: str | None, event: FederationEvent, signer: SigningKey
    ) -> str | None:
        """Sign ``event`` with ``signer`` and POST it to a peer; the failure (logged) or None."""
        url = base_url + EVENTS_PATH
        try:
            body, headers = build_signed_event(
                event, url=url, key=signer.key, key_id=signer.did_web_vm, now=self._clock()
            )
            self._fetcher.post(url, body=body, headers=headers, ca_bundle=ca_bundle)
        except TrustlaneError as e:
            log.warning("push of %s to %s failed: %s", event.type.value, url, e.diagnostics())
            return e.diagnostics()
        return None

    def flush(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for queued pushes; used at shutdown and in tests."""
        if not self._closed:
            self._pool.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        """Finish the pushes already handed to the pool and accept no more (for shutdown).

        A push that ran after the database was disposed would open a connection nobody
        closes; call this first.
        """
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=False)

    def deliver_document(self, peer_did: str, document: JSONObject) -> bool:
        """Send an MRA document (or a termination notice) to a peer, signed; True if taken.

        Synchronous: the administrator sees at once whether the peer received it. A failure
        is logged and leaves the document to be sent again (or handed over by other means).
        """
        peer = next((p for p in self._peers.peers() if p.did == peer_did), None)
        if peer is None:
            return False
        url = peer.base_url + AGREEMENTS_PATH
        body = serialize_document(document).encode()
        signer = self._identity.current()
        headers = {"Content-Type": "application/json"}
        headers |= sign_request(
            method="POST",
            url=url,
            headers=headers,
            body=body,
            key=signer.key,
            key_id=signer.did_web_vm,
            created=self._clock(),
            nonce=new_nonce(),
            tag=AGREEMENT_TAG,
        )
        try:
            self._fetcher.post(url, body=body, headers=headers, ca_bundle=peer.ca_bundle)
        except TrustlaneError as e:
            log.warning("delivery of an agreement document to %s failed: %s", url, e.diagnostics())
            return False
        return True

    def verify_peer_request(
        self, *, headers: Mapping[str, str], body: bytes, path: str, tag: str
    ) -> str:
        """Check a signed request from a peer (signature, key, freshness, nonce); return its DID.

        Raises:
            RequestSignatureError: Unsigned, badly signed, stale or replayed.
        """
        now = self._clock()
        verified = verify_request(
            method="POST",
            url=self._base_url + path,
            headers=headers,
            body=body,
            resolve_key=authentication_key_resolver(
                lambda did: self._peers.peer_keys(did, now), at=now
            ),
            now=now,
            max_skew=timedelta(seconds=self._settings.max_skew_seconds),
            tag=tag,
        )
        remember_nonce(
            verified,
            nonces=self._nonces,
            now=now,
            max_skew=timedelta(seconds=self._settings.max_skew_seconds),
            nonce_ttl=timedelta(seconds=self._settings.nonce_ttl_seconds),
        )
        return did_of(verified.key_id)

    # -- receiving ---------------------------------------------------------------------

    def receive(self, *, headers: Mapping[str, str], body: bytes) -> AcceptedEvent:
        """Check a pushed event and act on it.

        Raises:
            RequestSignatureError: Unsigned, badly signed, stale or replayed.
            MalformedInputError: The event is malformed or names a list of another issuer.
        """
        now = self._clock()
        # A peer untrusted only for keys it had not announced to us may still announce them
        # (recovery); the check below keeps every other event to trusted peers.
        accepted = accept_event(
            method="POST",
            url=self._base_url + EVENTS_PATH,
            headers=headers,
            body=body,
            resolve_key=authentication_key_resolver(
                lambda did: self._peers.announcement_keys(did, now), at=now
            ),
            nonces=self._nonces,
            now=now,
            max_skew=timedelta(seconds=self._settings.max_skew_seconds),
            nonce_ttl=timedelta(seconds=self._settings.nonce_ttl_seconds),
        )
        event = accepted.event
        if event.type is not FederationEventType.KEY_ROTATED:
            try:
                self._peers.peer_keys(event.issuer, now)
            except TrustlaneError as e:
                raise RequestSignatureError(
                    f"{event.issuer} is not trusted: {e.message}", code="UNKNOWN_KEY"
                ) from e
        if event.type is FederationEventType.STATUS_LIST_UPDATED:
            url = event.status_list_credential or ""
            peer = self._peers.peer_for_url(url)
            if peer is None or peer.did != event.issuer:
                raise MalformedInputError(
                    f"{url} is not a status list of {event.issuer}", code="INVALID_EVENT"
                )
            # Queued, not fetched here: a peer that drips its answer must not hold a worker.
            self._refetch([url], urgent=True)
        elif event.type is FederationEventType.KEY_ROTATED:
            new_key = event.extensions.get("newKey")
            if not isinstance(new_key, str):
                raise MalformedInputError(
                    "KeyRotated needs newKey (a Multikey)", code="INVALID_EVENT"
                )
            PublicKey.from_multibase(new_key)  # an Ed25519 Multikey, or InvalidKeyError
            known = self._peers.announcement_keys(event.issuer, now)
            if any(k.multibase == new_key and k.revoked for k in known.keys.values()):
                # A key reported compromised is never accepted as a rotation.
                raise MalformedInputError(
                    f"{new_key} is reported compromised by {event.issuer}", code="KEY_COMPROMISED"
                )
            # Signed by a pinned authentication key of this peer: the new key is held as
            # pending until a DID document lists it (at any later sync), and may sign nothing
            # dated before its start. If the peer was untrusted only for this key, the
            # document refused for it is accepted now (a recovery).
            self._peers.repin(
                event.issuer,
                frozenset({new_key}),
                now=now,
                actor=f"announced:{accepted.key_id}",
                not_before=min(event.occurred_at, now),
                source="announcement",
            )
            self._refetch([DID_DOCUMENT_PREFIX + event.issuer], urgent=True)
        return accepted
