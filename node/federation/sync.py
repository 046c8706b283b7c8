"""Syncing with peers: their DID documents, status lists and copies of agreements.

Workflow per resource: fetch (through the :class:`~node.federation.fetcher.Fetcher`, with
its deadlines) -> verify (pure rules in :mod:`registry`) -> persist. Only the scheduled job,
an administrator's "sync now" and the background refetch queue call this; a verify request
never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import Connection

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.strict_json import JSONObject, loads_object
from credentials.verification import get_credential_verification_result
from federation_config.federation import SyncSettings
from node.federation.fetcher import Fetcher
from node.federation.peers import PeerService, store_accepted_document
from node.federation.refetch import DID_DOCUMENT_PREFIX
from node.services.audit import record_event
from node.storage import federation_repo as repo
from node.storage.db import Database
from node.storage.documents import serialize_document
from node.storage.federation_repo import PeerRecord, PeerStatusListRecord
from registry.peer_keys import (
    KeyChangeRejectedError,
    accept_first_contact,
    accept_key_change,
    parse_did_document,
)
from registry.pipeline import LIST_ID
from registry.status_list import parse_status_list_credential

__all__ = ["MAX_LISTS_PER_PEER", "PeerSync", "SyncOutcome"]

#: At most this many lists are taken from a peer's index per sync (a bound on a lying peer).
MAX_LISTS_PER_PEER = 1024


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync step did."""

    peer_did: str
    resource: str
    ok: bool
    detail: str


def _still_the_peer(conn: Connection, peer: PeerRecord) -> bool:
    """Whether ``peer`` is still this node's peer, as it was read (locks its row)."""
    locked = repo.get_peer(conn, peer.did, for_update=True)
    return (
        locked is not None
        and locked.added_at == peer.added_at
        and locked.base_url == peer.base_url
        and locked.pinned_keys == peer.pinned_keys
    )


def _removed_meanwhile(peer: PeerRecord, resource: str) -> SyncOutcome:
    return SyncOutcome(
        peer.did,
        resource,
        False,
        "the peer was removed (or removed and added again) while this was fetched; nothing stored",
    )


class PeerSync:
    """Fetches, verifies and stores what this node's peers publish.

    Args:
        db: The node database.
        registry: The peers (who they are, and their keys for verifying what they sign).
        fetcher: The one way to reach a peer (the push service sends through it too).
        sync: Sync settings (interval, back-off).
        clock_skew: Tolerance for times in the future.

    """

    def __init__(
        self,
        *,
        db: Database,
        registry: PeerService,
        fetcher: Fetcher,
        sync: SyncSettings,
        clock_skew: timedelta,
    ) -> None:
        self._db = db
        self.registry = registry
        self.fetcher = fetcher
        self._sync = sync
        self._skew = clock_skew

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
        for peer in self.registry.peers():
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
            old = None
            text = serialize_document(document)
            try:
                if stored is None:
                    accept_first_contact(fetched, peer.pinned_keys)
                else:
                    old = parse_did_document(loads_object(stored[0]), peer.did)
                    # Pending keys (announced or re-pinned, at any earlier time) vouch.
                    accept_key_change(old, fetched, repinned=peer.repinned_keys)
            except TrustlaneError as e:
                # Refused only for keys nobody vouched for yet: keep the document, so that
                # the announcement of those keys (signed by a key still pinned) can accept
                # it at once. Any other fault keeps the peer untrusted until a re-pin.
                rejected = None
                if isinstance(e, KeyChangeRejectedError) and e.unannounced:
                    rejected = (text, now)
                repo.set_trust(
                    conn,
                    peer.did,
                    trusted=False,
                    reason=e.diagnostics(),
                    code=e.code,
                    rejected=rejected,
                )
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
            store_accepted_document(
                conn, peer=peer, old=old, new=fetched, document=text, fetched_at=now, now=now
            )
            repo.record_success(conn, peer.did, "did_document", now)
        return SyncOutcome(peer.did, "did_document", True, "DID document accepted")

    def sync_item(self, item: str, now: datetime) -> SyncOutcome:
        """Sync one queued item: a peer's DID document or a status list URL."""
        if item.startswith(DID_DOCUMENT_PREFIX):
            did = item[len(DID_DOCUMENT_PREFIX) :]
            peer = next((p for p in self.registry.peers() if p.did == did), None)
            if peer is None:
                return SyncOutcome(did, "did_document", False, "not a peer")
            return self.sync_did_document(peer, now)
        return self.sync_status_list(item, now)

    def sync_status_list(self, url: str, now: datetime) -> SyncOutcome:
        """Fetch a peer status list (conditionally), verify it, refuse rollbacks, store it."""
        peer = self.registry.peer_for_url(url)
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
                    if not _still_the_peer(conn, peer):
                        return _removed_meanwhile(peer, resource)
                    repo.confirm_status_list(conn, url, current.valid_from, now)
                    repo.record_success(conn, peer.did, resource, now)
                return SyncOutcome(peer.did, resource, True, "not modified")
            document = loads_object(response.body)
            result = get_credential_verification_result(
                document, resolver=self.registry, now=now, clock_skew=self._skew
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
            text = serialize_document(document)
            with self._db.write() as conn:
                # The list was verified against the peer as it was when the fetch began; a
                # peer removed since (or removed and added again) gets nothing stored.
                if not _still_the_peer(conn, peer):
                    return _removed_meanwhile(peer, resource)
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
