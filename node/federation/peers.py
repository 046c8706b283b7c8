"""Peers: the registry of partner nodes (add, re-pin, health) and resolving their keys.

Fetching from peers lives in :mod:`node.federation.sync`. A peer is trusted only while its
DID document matches its pins or the rotation rules; a DID document older than the freshness
limit makes its keys unresolvable (``unknown``), and so does an untrusted peer.

Announced and re-pinned keys are held as pending until a DID document lists them. A peer
untrusted only because its last DID document listed keys nobody had vouched for keeps that
document; when the missing keys are vouched for (an announcement signed by a key still
pinned, or a re-pin) the document is accepted at once and the peer is trusted again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from credentials.data_integrity import ResolvedVerificationMethod
from credentials.datetimes import format_datetime
from credentials.errors import MalformedInputError, TrustlaneError
from credentials.keys import PublicKey
from credentials.strict_json import loads_object
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
    KeyChangeRejectedError,
    PeerKey,
    PeerKeys,
    accept_key_change,
    parse_did_document,
)
from registry.peer_origin import check_peer_base_url, did_web_origin
from registry.pipeline import LIST_ID
from registry.trust_snapshot import PeerState, SnapshotResolver

__all__ = ["PEER_NAME", "PeerService", "recoverable", "store_accepted_document"]

AUTHENTICATION = "authentication"

# The same names federation.toml accepts.
PEER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z", re.ASCII)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def _peer_keys(did: str, peer: PeerState) -> PeerKeys:
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


def recoverable(peer: PeerRecord) -> bool:
    """Whether the peer is untrusted only for keys a later announcement may vouch for."""
    return (
        not peer.trusted
        and peer.untrusted_code == KeyChangeRejectedError.code
        and peer.rejected_document is not None
        and peer.rejected_at is not None
    )


def store_accepted_document(
    conn: Connection,
    *,
    peer: PeerRecord,
    old: PeerKeys | None,
    new: PeerKeys,
    document: str,
    fetched_at: datetime,
    now: datetime,
) -> None:
    """Store a DID document that passed the pinning rules and trust the peer.

    Pending keys the document now lists stop being pending; the others stay pending for a
    later document. A key that left ``authentication`` stopped being the peer's current key:
    its end is recorded (the time this node saw it, never earlier than the truth).

    Args:
        conn: A write transaction holding the peer's row lock.
        peer: The peer, as read under that lock.
        old: The keys of the document accepted before (None at first contact).
        new: The keys of the accepted document.
        document: The document as stored.
        fetched_at: When it was fetched.
        now: This decision's time.
    """
    repo.save_did_document(conn, peer.did, document, fetched_at)
    listed = new.all_fingerprints()
    repo.set_trust(
        conn,
        peer.did,
        trusted=True,
        reason=None,
        pinned_keys=listed,
        repinned_keys=peer.repinned_keys - listed,
    )
    if old is None:
        return
    for vm_id, key in old.keys.items():
        kept = new.keys.get(vm_id)
        if (
            AUTHENTICATION in key.relationships
            and kept is not None
            and AUTHENTICATION not in kept.relationships
        ):
            trust_repo.end_peer_key(conn, peer_did=peer.did, multibase=key.multibase, at=now)


def _recover(
    conn: Connection, peer: PeerRecord, vouched: frozenset[str], *, now: datetime, actor: str
) -> bool:
    """Accept the refused DID document if ``vouched`` now covers its unannounced keys.

    Only a peer untrusted for that reason alone (:func:`recoverable`) is lifted; the
    document must pass the same rules a sync applies (:func:`accept_key_change`).
    """
    document, refused_at = peer.rejected_document, peer.rejected_at
    stored = repo.get_did_document(conn, peer.did)
    if not recoverable(peer) or document is None or refused_at is None or stored is None:
        return False
    try:
        old = parse_did_document(loads_object(stored[0]), peer.did)
        refused = parse_did_document(loads_object(document), peer.did)
        accept_key_change(old, refused, repinned=vouched)
    except TrustlaneError:
        return False  # still keys nobody vouched for: wait for their announcement
    note = (
        f"trusted again: the DID document refused at {format_datetime(refused_at)} "
        f"({peer.untrusted_reason}) lists only keys since vouched for by {actor}"
    )
    store_accepted_document(
        conn,
        peer=dataclasses.replace(peer, repinned_keys=vouched),
        old=old,
        new=refused,
        document=document,
        fetched_at=refused_at,
        now=now,
    )
    repo.record_recovery(conn, peer.did, at=now, note=note)
    record_event(
        conn,
        now=now,
        actor=actor,
        action="peer.recovered",
        target=peer.did,
        details={
            "reason": peer.untrusted_reason or "",
            "refusedAt": format_datetime(refused_at),
        },
    )
    return True


def untrusted_reason(
    peer: PeerRecord, *, has_document: bool, health: Sequence[repo.SyncHealthRecord]
) -> str | None:
    """Why the peer is untrusted, as operators should read it (None when trusted).

    A peer whose DID document was never accepted, and whose last fetch of it failed, is
    untrusted because of that failure (a TLS error, a refused connection): the reason names
    it instead of "not fetched yet".
    """
    if peer.trusted:
        return None
    if not has_document and peer.untrusted_code is None:
        failed = next((h for h in health if h.resource == "did_document" and h.last_error), None)
        if failed is not None and failed.failures > 0:
            return f"DID document not fetched: {failed.last_error}"
    return peer.untrusted_reason


def _agreement_open(record: repo.MRARecord, now: datetime) -> bool:
    """Pending, active, or terminated with its notice not yet effective."""
    if record.state in ("pending", "active"):
        return True
    return (
        record.state == "terminated"
        and record.termination_effective is not None
        and record.termination_effective > now
    )


def _agreement_entry(record: repo.MRARecord, now: datetime) -> dict[str, object]:
    return {
        "id": record.id,
        "state": record.state,
        "updatedAt": format_datetime(record.updated_at),
        "terminationEffective": _stamp(record.termination_effective),
        "open": _agreement_open(record, now),
    }


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
    ) -> bool:
        """Vouch for new keys of a peer (accepted at the next sync), audited.

        The keys are held as pending until a DID document that lists them is accepted,
        however many syncs that takes. When the peer is untrusted only because its last
        DID document listed keys nobody had vouched for, and these keys cover them, that
        document is accepted now and the peer is trusted again at once (a recovery, shown
        in :meth:`health`); any other reason for distrust stays.

        Args:
            did: The peer.
            keys: Multibase keys to accept.
            now: The time of the re-pin.
            actor: Who vouches (an administrator's token, or ``announced:KEYID``).
            not_before: The earliest proof time the keys may sign (default ``now``): a
                proof dated earlier fails ``KEY_NOT_YET_VALID``.
            source: ``repin`` (an administrator) or ``announcement`` (a signed event).

        Returns:
            True when this lifted the peer's distrust (a recovery).

        Raises:
            MalformedInputError: Unknown peer, or a key that is not an Ed25519 Multikey.
        """
        for key in keys:
            PublicKey.from_multibase(key)
        start = now if not_before is None else not_before
        with self._db.write() as conn:
            # Locked: a sync deciding on this peer meanwhile waits, then sees these keys.
            peer = repo.get_peer(conn, did, for_update=True)
            if peer is None:
                raise MalformedInputError(f"no peer {did}", code="UNKNOWN_PEER")
            if keys <= peer.repinned_keys:
                # Vouched for already (an announcement sent again): nothing new to record.
                return _recover(conn, peer, peer.repinned_keys, now=now, actor=actor)
            repo.set_pending_keys(
                conn,
                did,
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
            recovered = _recover(conn, peer, peer.repinned_keys | keys, now=now, actor=actor)
        return recovered

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
                entry: dict[str, object] = {
                    "did": peer.did,
                    "name": peer.name,
                    "baseUrl": peer.base_url,
                    "trusted": peer.trusted,
                    "untrustedReason": untrusted_reason(
                        peer,
                        has_document=stored is not None,
                        health=[h for h in rows if h.peer_did == peer.did],
                    ),
                    "didDocumentAgeSeconds": int((now - stored[1]).total_seconds())
                    if stored
                    else None,
                    "resources": resources,
                    "pendingKeys": sorted(peer.repinned_keys),
                }
                if peer.recovered_at is not None:
                    entry["recovery"] = {
                        "at": format_datetime(peer.recovered_at),
                        "detail": peer.recovery_note,
                    }
                report.append(entry)
        return report

    def describe(self, name: str) -> dict[str, object]:
        """Everything this node knows about one peer (JSON-ready), for ``peer show``.

        Raises:
            NotFoundError: No such peer.
        """
        peer = self.peer_named(name)
        entry = next(e for e in self.health() if e["did"] == peer.did)
        with self._db.read() as conn:
            stored = repo.get_did_document(conn, peer.did)
            keys = trust_repo.list_peer_key_records(conn, peer.did)
            agreements = [m for m in repo.list_mras(conn) if m.peer_did == peer.did]
        now = self._clock()
        return {
            **entry,
            "caBundle": peer.ca_bundle,
            "addedAt": format_datetime(peer.added_at),
            "untrustedCode": None if peer.trusted else peer.untrusted_code,
            "didDocumentFetchedAt": _stamp(stored[1]) if stored else None,
            "pinnedKeys": [
                {
                    "publicKeyMultibase": k.multibase,
                    "source": k.source,
                    "pending": k.multibase in peer.repinned_keys,
                    "notBefore": _stamp(k.not_before),
                    "notAfter": _stamp(k.not_after),
                    "recordedAt": format_datetime(k.recorded_at),
                    "actor": k.actor,
                }
                for k in keys
            ],
            "agreements": [_agreement_entry(m, now) for m in agreements],
        }

    def remove(
        self,
        name: str,
        *,
        force: bool,
        configured: Sequence[PeerSettings],
        now: datetime,
        actor: str,
    ) -> dict[str, object]:
        """Remove a peer, audited; return what was done (JSON-ready).

        The peer's DID document, status lists, key records and sync health are deleted, so
        nothing it signed verifies any more (its keys no longer resolve) and no agreement
        with it grants anything. Agreements with it are kept for the record. An agreement
        still open (pending, active, or terminated with notice not yet effective) makes
        the removal refused unless ``force``; with ``force`` each is set to ``withdrawn``
        here (no notice is sent to the peer: terminate first for that), and it never counts
        again, even if the peer is added again later.

        Raises:
            NotFoundError: No such peer.
            MalformedInputError: The peer is listed (enabled) in ``federation.toml``, which
                ``node serve`` applies at start (``PEER_CONFIGURED``); or open agreements
                without ``force`` (``PEER_HAS_AGREEMENTS``).
        """
        peer = self.peer_named(name)
        if any(c.enabled and (c.did == peer.did or c.name == name) for c in configured):
            raise MalformedInputError(
                f"peer {name!r} is listed in federation.toml, and 'node serve' adds it again "
                "at start: remove it there (or set enabled = false) first",
                code="PEER_CONFIGURED",
            )
        with self._db.write() as conn:
            locked = repo.get_peer(conn, peer.did, for_update=True)
            if locked is None:
                raise NotFoundError(f"no peer named {name!r}")
            open_ = [
                m
                for m in repo.list_mras(conn)
                if m.peer_did == peer.did and _agreement_open(m, now)
            ]
            if open_ and not force:
                ids = ", ".join(f"{m.id} ({m.state})" for m in open_)
                raise MalformedInputError(
                    f"peer {name!r} has open agreements: {ids}; terminate them first "
                    "(POST /mras/terminate), or pass --force to withdraw them here",
                    code="PEER_HAS_AGREEMENTS",
                )
            for record in open_:
                repo.put_mra(conn, dataclasses.replace(record, state="withdrawn", updated_at=now))
            repo.delete_peer(conn, peer.did)
            record_event(
                conn,
                now=now,
                actor=actor,
                action="peer.removed",
                target=peer.did,
                details={
                    "name": name,
                    "baseUrl": peer.base_url,
                    "withdrawnAgreements": [m.id for m in open_],
                },
            )
        return {
            "removed": name,
            "did": peer.did,
            "withdrawnAgreements": [m.id for m in open_],
        }

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

    def announcement_keys(self, did: str, now: datetime) -> PeerKeys:
        """The keys that may sign a peer's key announcement.

        A trusted peer's keys as :meth:`peer_keys` gives them. A peer untrusted only because
        its last DID document listed keys nobody had vouched for still speaks with the
        keys of the document accepted before (the keys this node still pins), so that the
        announcement it missed can lift that distrust; every other untrusted peer is
        refused.

        Raises:
            UnresolvableVerificationMethodError: Unknown, untrusted (for another reason) or
                stale peer.
        """
        with self._db.read() as conn:
            peer = repo.get_peer(conn, did)
        if peer is None or peer.trusted or not recoverable(peer):
            return self.peer_keys(did, now)
        state = self._trust.current().peers.get(did)
        if state is None or state.did_document_fetched_at is None:
            return self.peer_keys(did, now)
        return _peer_keys(did, state)

    def peer_keys(self, did: str, now: datetime) -> PeerKeys:
        """The keys of a trusted peer with a fresh DID document, as the trust snapshot holds them.

        For checking the peer's signed requests
        (:func:`registry.events.authentication_key_resolver`); a key reported compromised
        carries its ``revoked`` time.

        Raises:
            UnresolvableVerificationMethodError: Unknown, untrusted or stale peer.
        """
        peer = SnapshotResolver(self._trust.current(), now=now).trusted_peer(did)
        return _peer_keys(did, peer)

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
