"""Peers: adding them, syncing their DID documents and status lists, resolving their keys.

Workflow per resource: fetch (through the :class:`~node.federation.fetcher.Fetcher`) →
verify (pure rules in :mod:`registry`) → persist. A peer is trusted only while its DID
document matches its pins or the rotation rules; a DID document older than the freshness
limit makes its keys unresolvable (``unknown``), and so does an untrusted peer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from credentials.data_integrity import ResolvedVerificationMethod
from credentials.datetimes import format_datetime
from credentials.errors import (
    MalformedInputError,
    TrustlaneError,
    UnresolvableVerificationMethodError,
)
from credentials.keys import PublicKey
from credentials.strict_json import JSONObject, loads_object
from credentials.verification import get_credential_verification_result
from federation_config.federation import FreshnessSettings, PeerSettings, SyncSettings
from federation_config.settings import did_web_for
from node.federation.fetcher import Fetcher
from node.federation.refetch import DID_DOCUMENT_PREFIX
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.status import NotFoundError
from node.services.trust import TrustSnapshotSource
from node.storage import federation_repo as repo
from node.storage import trust_repo
from node.storage.db import Database
from node.storage.federation_repo import PeerRecord, PeerStatusListRecord
from registry.peer_keys import (
    PeerKeys,
    accept_first_contact,
    accept_key_change,
    parse_did_document,
)
from registry.peer_origin import check_peer_base_url, did_web_origin
from registry.pipeline import LIST_ID
from registry.status_list import parse_status_list_credential
from registry.trust_snapshot import SnapshotResolver

__all__ = ["PEER_NAME", "PeerService", "SyncOutcome"]

# At most this many lists are taken from a peer's index per sync (a bound on a lying peer).
MAX_LISTS_PER_PEER = 1024

# The same names federation.toml accepts.
PEER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z", re.ASCII)


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync step did."""

    peer_did: str
    resource: str
    ok: bool
    detail: str


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


class PeerService:
    """Peers of one node and everything fetched from them."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        fetcher: Fetcher,
        sync: SyncSettings,
        freshness: FreshnessSettings,
        clock_skew: timedelta,
        clock: Callable[[], datetime],
        trust: TrustSnapshotSource,
    ) -> None:
        self._clock = clock
        self._trust = trust
        self._db = db
        self._identity = identity
        # Public: the push service sends through the same fetcher.
        self.fetcher = fetcher
        self._sync = sync
        self._freshness = freshness
        self._skew = clock_skew
        self._lock = threading.Lock()
        self._keys_cache: dict[tuple[str, datetime], PeerKeys] = {}

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

    def fetch_agreement(self, peer: PeerRecord, agreement_id: str) -> JSONObject:
        """The peer's copy of an agreement (``GET /federation/agreements/{id}``).

        Raises:
            FetchError: The peer cannot be reached or answered badly.
            MalformedInputError: The answer is not strict JSON.
        """
        url = f"{peer.base_url}/federation/agreements/{quote(agreement_id, safe=':')}"
        return loads_object(self.fetcher.get(url, ca_bundle=peer.ca_bundle).body)

    def sync_all(self, now: datetime, *, force: bool = False) -> list[SyncOutcome]:
        """One sync round: every peer that is due (all with ``force``), DID document first."""
        outcomes: list[SyncOutcome] = []
        with self._db.read() as conn:
            health = {(h.peer_did, h.resource): h for h in repo.list_health(conn)}
        for peer in self.peers():
            due = health.get((peer.did, "did_document"))
            if not force and due is not None and due.next_attempt and due.next_attempt > now:
                continue
            outcome = self.sync_did_document(peer, now)
            outcomes.append(outcome)
            if not outcome.ok:
                continue
            for url in self._published_lists(peer):
                outcomes.append(self.sync_status_list(url, now))
        return outcomes

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

    # -- sync --------------------------------------------------------------------------

    def _failed(
        self, peer: PeerRecord, resource: str, error: TrustlaneError, now: datetime
    ) -> SyncOutcome:
        with self._db.write() as conn:
            count = repo.failures(conn, peer.did, resource) + 1
            backoff = min(
                self._sync.max_backoff_seconds, self._sync.interval_seconds * 2 ** min(count, 16)
            )
            repo.record_failure(
                conn, peer.did, resource, error.diagnostics(), now, now + timedelta(seconds=backoff)
            )
        return SyncOutcome(peer.did, resource, False, error.diagnostics())

    def sync_did_document(self, peer: PeerRecord, now: datetime) -> SyncOutcome:
        """Fetch and check a peer's DID document; trust or distrust the peer accordingly."""
        try:
            response = self.fetcher.get(
                peer.base_url + "/.well-known/did.json", ca_bundle=peer.ca_bundle
            )
            document = loads_object(response.body)
            fetched = parse_did_document(document, peer.did)
        except TrustlaneError as e:
            return self._failed(peer, "did_document", e, now)
        with self._db.write() as conn:
            # Decide on the peer as it is now, locked: an announcement or a re-pin written
            # since this sync started must be seen, and must not be lost when we clear it.
            locked = repo.get_peer(conn, peer.did, for_update=True)
            if locked is None:
                return SyncOutcome(peer.did, "did_document", False, "peer removed")
            peer = locked
            stored = repo.get_did_document(conn, peer.did)
            try:
                if stored is None:
                    accept_first_contact(fetched, peer.pinned_keys)
                else:
                    old = parse_did_document(loads_object(stored[0]), peer.did)
                    accept_key_change(old, fetched, repinned=peer.repinned_keys)
            except TrustlaneError as e:
                repo.set_trust(conn, peer.did, trusted=False, reason=e.diagnostics())
                record_event(
                    conn,
                    now=now,
                    actor="sync",
                    action="peer.untrusted",
                    target=peer.did,
                    details={"reason": e.diagnostics()},
                )
                repo.record_failure(conn, peer.did, "did_document", e.diagnostics(), now, now)
                return SyncOutcome(peer.did, "did_document", False, e.diagnostics())
            repo.save_did_document(conn, peer.did, json.dumps(document), now)
            repo.set_trust(
                conn,
                peer.did,
                trusted=True,
                reason=None,
                pinned_keys=fetched.all_fingerprints(),
                repinned_keys=frozenset(),
            )
            repo.record_success(conn, peer.did, "did_document", now)
        return SyncOutcome(peer.did, "did_document", True, "DID document accepted")

    def sync_item(self, item: str, now: datetime) -> SyncOutcome:
        """Sync one queued item: a peer's DID document or a status list URL."""
        if item.startswith(DID_DOCUMENT_PREFIX):
            did = item[len(DID_DOCUMENT_PREFIX) :]
            peer = next((p for p in self.peers() if p.did == did), None)
            if peer is None:
                return SyncOutcome(did, "did_document", False, "not a peer")
            return self.sync_did_document(peer, now)
        return self.sync_status_list(item, now)

    def sync_status_list(self, url: str, now: datetime) -> SyncOutcome:
        """Fetch a peer status list (conditionally), verify it, refuse rollbacks, store it."""
        peer = self.peer_for_url(url)
        if peer is None:
            return SyncOutcome("", "status_list", False, f"{url} is no peer's status list")
        resource = "status_list:" + url
        with self._db.read() as conn:
            current = repo.current_status_list(conn, url)
        try:
            response = self.fetcher.get(
                url, ca_bundle=peer.ca_bundle, etag=current.etag if current else None
            )
            if response.status == 304 and current is not None:
                with self._db.write() as conn:
                    repo.confirm_status_list(conn, url, current.valid_from, now)
                    repo.record_success(conn, peer.did, resource, now)
                return SyncOutcome(peer.did, resource, True, "not modified")
            document = loads_object(response.body)
            result = get_credential_verification_result(
                document, resolver=self, now=now, clock_skew=self._skew
            )
            if not result.verified:
                reasons = "; ".join(f"{e.check}: {e.message}" for e in result.errors)
                raise MalformedInputError(
                    f"status list does not verify: {reasons}", code="STATUS_LIST_UNVERIFIED"
                )
            info = parse_status_list_credential(document)
            if info.list_id != url or info.issuer != peer.did:
                raise MalformedInputError(
                    f"status list names id {info.list_id} and issuer {info.issuer}",
                    code="STATUS_LIST_MISMATCH",
                )
            if info.valid_from is None or info.valid_until is None:
                raise MalformedInputError(
                    "status list needs validFrom and validUntil", code="STATUS_LIST_MISMATCH"
                )
            text = json.dumps(document, separators=(",", ":"))
            with self._db.write() as conn:
                latest = repo.current_status_list(conn, url)
                if latest is not None and info.valid_from < latest.valid_from:
                    raise MalformedInputError(
                        f"rollback refused: validFrom {info.valid_from.isoformat()} is older than "
                        f"the cached {latest.valid_from.isoformat()}",
                        code="STATUS_LIST_ROLLBACK",
                    )
                if latest is not None and info.valid_from == latest.valid_from:
                    if latest.document != text:
                        raise MalformedInputError(
                            "a different list with the same validFrom", code="STATUS_LIST_ROLLBACK"
                        )
                    repo.confirm_status_list(conn, url, latest.valid_from, now)
                else:
                    repo.save_status_list(
                        conn,
                        PeerStatusListRecord(
                            url=url,
                            peer_did=peer.did,
                            valid_from=info.valid_from,
                            valid_until=info.valid_until,
                            etag=response.etag,
                            document=text,
                            confirmed_at=now,
                        ),
                        now,
                    )
                repo.record_success(conn, peer.did, resource, now)
        except TrustlaneError as e:
            return self._failed(peer, resource, e, now)
        return SyncOutcome(peer.did, resource, True, "status list stored")

    def _published_lists(self, peer: PeerRecord) -> list[str]:
        """The peer's lists: those it publishes (``GET /status-lists``) and those held."""
        urls = dict.fromkeys(self.known_status_lists(peer))
        prefix = peer.base_url + "/status-lists/"
        try:
            index = loads_object(self.fetcher.get(prefix[:-1], ca_bundle=peer.ca_bundle).body)
        except TrustlaneError:
            return list(urls)  # an older peer without an index: the lists already held
        listed = index.get("statusLists")
        if isinstance(listed, list):
            for url in listed[:MAX_LISTS_PER_PEER]:
                if (
                    isinstance(url, str)
                    and url.startswith(prefix)
                    and LIST_ID.match(url[len(prefix) :])
                ):
                    urls.setdefault(url)
        return list(urls)

    def known_status_lists(self, peer: PeerRecord) -> list[str]:
        """URLs of the peer's status lists this node has cached."""
        with self._db.read() as conn:
            return repo.status_list_urls(conn, peer.did)

    # -- resolution (VerificationMethodResolver) --------------------------------------

    def peer_keys(self, did: str, now: datetime) -> PeerKeys:
        """The keys of a trusted peer from its fresh, accepted DID document.

        Raises:
            UnresolvableVerificationMethodError: Unknown, untrusted or stale peer.
        """
        with self._db.read() as conn:
            peer = repo.get_peer(conn, did)
            stored = repo.get_did_document(conn, did) if peer is not None else None
        if peer is None:
            raise UnresolvableVerificationMethodError(f"{did} is not a peer of this node")
        if not peer.trusted or stored is None:
            raise UnresolvableVerificationMethodError(
                f"peer {did} is not trusted: {peer.untrusted_reason or 'no DID document'}"
            )
        document, fetched_at = stored
        if now - fetched_at > timedelta(seconds=self._freshness.did_document_max_age_seconds):
            raise UnresolvableVerificationMethodError(
                f"peer {did}'s DID document is stale (fetched {fetched_at.isoformat()})"
            )
        key = (did, fetched_at)
        with self._lock:
            keys = self._keys_cache.get(key)
        if keys is None:
            keys = parse_did_document(loads_object(document), did)
            with self._lock:
                if len(self._keys_cache) > 256:
                    self._keys_cache.clear()
                self._keys_cache[key] = keys
        return keys

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
