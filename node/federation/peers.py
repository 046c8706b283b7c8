"""Peers: the registry of partner nodes (add, re-pin, health) and resolving their keys.

Fetching from peers lives in :mod:`node.federation.sync`. A peer is trusted only while its
DID document matches its pins or the rotation rules; a DID document older than the freshness
limit makes its keys unresolvable (``unknown``), and so does an untrusted peer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from credentials.data_integrity import ResolvedVerificationMethod
from credentials.datetimes import format_datetime
from credentials.errors import (
    MalformedInputError,
)
from credentials.keys import PublicKey
from federation_config.federation import PeerSettings
from federation_config.settings import did_web_for
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.status import NotFoundError
from node.services.trust import TrustSnapshotSource
from node.storage import federation_repo as repo
from node.storage import trust_repo
from node.storage.db import Database
from node.storage.federation_repo import PeerRecord
from registry.peer_keys import (
    PeerKey,
    PeerKeys,
)
from registry.peer_origin import check_peer_base_url, did_web_origin
from registry.pipeline import LIST_ID
from registry.trust_snapshot import SnapshotResolver

__all__ = ["PEER_NAME", "PeerService"]

# The same names federation.toml accepts.
PEER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z", re.ASCII)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


class PeerService:
    """The peers of one node: the registry and key resolution."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        clock: Callable[[], datetime],
        trust: TrustSnapshotSource,
    ) -> None:
        self._clock = clock
        self._trust = trust
        self._db = db
        self._identity = identity

    # -- administration ----------------------------------------------------------------

    def add_peer(
        self,
        *,
        name: str,
        did: str,
        base_url: str,
        pinned_keys: frozenset[str],
        ca_bundle: str | None,
        now: datetime,
        actor: str,
    ) -> None:
        """Add a peer with keys pinned out of band.

        Raises:
            MalformedInputError: The DID does not match the base URL, a pin is not an
                Ed25519 Multikey, the peer is this node, or it exists already.
        """
        base_url = check_peer_base_url(base_url, node_base_url=did_web_origin(self._identity.did))
        base_url = base_url.rstrip("/")
        if not PEER_NAME.match(name):
            raise MalformedInputError(
                "peer names are 1-32 lower-case letters, digits and '-'", code="INVALID_PEER"
            )
        if did_web_for(base_url) != did:
            raise MalformedInputError(
                f"{did} is not the did:web of {base_url} ({did_web_for(base_url)})",
                code="INVALID_PEER",
            )
        if did == self._identity.did:
            raise MalformedInputError("a node cannot be its own peer", code="INVALID_PEER")
        if not pinned_keys:
            raise MalformedInputError("pin at least one key", code="INVALID_PEER")
        for key in pinned_keys:
            PublicKey.from_multibase(key)
        with self._db.write() as conn:
            if repo.get_peer(conn, did) is not None:
                raise MalformedInputError(f"peer {did} already exists", code="DUPLICATE_PEER")
            if any(p.name == name for p in repo.list_peers(conn)):
                raise MalformedInputError(
                    f"a peer is already named {name!r}", code="DUPLICATE_PEER"
                )
            repo.add_peer(
                conn,
                did=did,
                name=name,
                base_url=base_url,
                ca_bundle=ca_bundle,
                pinned_keys=pinned_keys,
                now=now,
            )
            for key in pinned_keys:
                # Pinned out of band: vouched for the peer's past too (no start).
                trust_repo.record_peer_key(
                    conn,
                    peer_did=did,
                    multibase=key,
                    source="pin",
                    not_before=None,
                    now=now,
                    actor=actor,
                )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="peer.added",
                target=did,
                details={"name": name, "baseUrl": base_url, "pins": sorted(pinned_keys)},
            )

    def repin(
        self,
        did: str,
        keys: frozenset[str],
        *,
        now: datetime,
        actor: str,
        not_before: datetime | None = None,
        source: str = "repin",
    ) -> None:
        """Vouch for new keys of a peer (accepted at the next sync), audited.

        Args:
            did: The peer.
            keys: Multibase keys to accept.
            now: The time of the re-pin.
            actor: Who vouches (an administrator's token, or ``announced:KEYID``).
            not_before: The earliest proof time the keys may sign (default ``now``): a
                proof dated earlier fails ``KEY_NOT_YET_VALID``.
            source: ``repin`` (an administrator) or ``announcement`` (a signed event).

        Raises:
            MalformedInputError: Unknown peer, or a key that is not an Ed25519 Multikey.
        """
        for key in keys:
            PublicKey.from_multibase(key)
        start = now if not_before is None else not_before
        with self._db.write() as conn:
            peer = repo.get_peer(conn, did)
            if peer is None:
                raise MalformedInputError(f"no peer {did}", code="UNKNOWN_PEER")
            repo.set_trust(
                conn,
                did,
                trusted=peer.trusted,
                reason=peer.untrusted_reason,
                repinned_keys=peer.repinned_keys | keys,
                pinned_keys=peer.pinned_keys | keys,
            )
            for key in keys:
                trust_repo.record_peer_key(
                    conn,
                    peer_did=did,
                    multibase=key,
                    source=source,
                    not_before=start,
                    now=now,
                    actor=actor,
                )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="peer.repinned",
                target=did,
                details={"keys": sorted(keys), "notBefore": format_datetime(start)},
            )

    def apply_configured(self, configured: Sequence[PeerSettings], *, now: datetime) -> int:
        """Add peers listed in ``federation.toml`` that the registry does not have yet.

        Pins of known peers that the file extends are treated as an administrator re-pin.
        Returns the number of peers added.
        """
        added = 0
        known = {p.did: p for p in self.peers()}
        for peer in configured:
            if not peer.enabled:
                continue
            pins = frozenset(peer.key_fingerprints)
            existing = known.get(peer.did)
            if existing is None:
                self.add_peer(
                    name=peer.name,
                    did=peer.did,
                    base_url=peer.base_url,
                    pinned_keys=pins,
                    ca_bundle=str(peer.ca_bundle) if peer.ca_bundle else None,
                    now=now,
                    actor="federation.toml",
                )
                added += 1
            elif not pins <= existing.pinned_keys:
                self.repin(peer.did, pins - existing.pinned_keys, now=now, actor="federation.toml")
        return added

    def health(self) -> list[dict[str, object]]:
        """Per-peer health: trust, last success and error, staleness of each cache."""
        now = self._clock()
        with self._db.read() as conn:
            rows = repo.list_health(conn)
            report = []
            for peer in repo.list_peers(conn):
                stored = repo.get_did_document(conn, peer.did)
                resources = [
                    {
                        "resource": h.resource,
                        "lastSuccess": _stamp(h.last_success),
                        "lastError": h.last_error,
                        "lastErrorAt": _stamp(h.last_error_at),
                        "consecutiveFailures": h.failures,
                        "ageSeconds": int((now - h.last_success).total_seconds())
                        if h.last_success
                        else None,
                    }
                    for h in rows
                    if h.peer_did == peer.did
                ]
                report.append(
                    {
                        "did": peer.did,
                        "name": peer.name,
                        "baseUrl": peer.base_url,
                        "trusted": peer.trusted,
                        "untrustedReason": peer.untrusted_reason,
                        "didDocumentAgeSeconds": int((now - stored[1]).total_seconds())
                        if stored
                        else None,
                        "resources": resources,
                    }
                )
        return report

    def peers(self) -> list[PeerRecord]:
        """Every peer."""
        with self._db.read() as conn:
            return repo.list_peers(conn)

    def peer_named(self, name: str) -> PeerRecord:
        """The peer with this registry name.

        Raises:
            NotFoundError: No such peer (``UNKNOWN_PEER``).
        """
        for peer in self.peers():
            if peer.name == name:
                return peer
        raise NotFoundError(f"no peer named {name!r}")

    def peer_for_url(self, url: str) -> PeerRecord | None:
        """The peer that publishes the status list ``url`` at its pinned origin, or None.

        Only ``BASE/status-lists/LIST_ID`` counts: nothing else of a peer is ever fetched
        because a caller named it.
        """
        for peer in self.peers():
            prefix = peer.base_url + "/status-lists/"
            if url.startswith(prefix) and LIST_ID.match(url[len(prefix) :]):
                return peer
        return None

    def peer_keys(self, did: str, now: datetime) -> PeerKeys:
        """The keys of a trusted peer with a fresh DID document, as the trust snapshot holds them.

        For checking the peer's signed requests
        (:func:`registry.events.authentication_key_resolver`); a key reported compromised
        carries its ``revoked`` time.

        Raises:
            UnresolvableVerificationMethodError: Unknown, untrusted or stale peer.
        """
        peer = SnapshotResolver(self._trust.current(), now=now).trusted_peer(did)
        return PeerKeys(
            did=did,
            keys={
                vm_id: PeerKey(
                    vm_id=vm_id,
                    multibase=key.multibase,
                    relationships=key.relationships,
                    revoked=key.compromised_since,
                )
                for vm_id, key in peer.keys.items()
            },
        )

    def resolve_verification_method(
        self, vm_id: str, *, at: datetime | None = None
    ) -> ResolvedVerificationMethod:
        """Resolve own keys, did:key and trusted peers' keys under the snapshot's key rules.

        Raises:
            UnresolvableVerificationMethodError: Unknown, untrusted or stale peer.
            VerificationError: Compromised, not yet valid, or not listed.
        """
        resolver = SnapshotResolver(self._trust.current(), now=self._clock())
        return resolver.resolve_verification_method(vm_id, at=at)
