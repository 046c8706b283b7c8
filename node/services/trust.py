"""Builds the node's :class:`~registry.trust_snapshot.TrustSnapshot` from its database.

The snapshot is rebuilt only when the database's trust generation moved (see
:mod:`node.storage.trust_repo`): a verify request reads one integer, and the whole snapshot
only after a change. Parsed DID documents, agreements and status lists are reused across
rebuilds while their stored versions are unchanged.

A request may share that integer with the other requests of its worker: given the time it
was received (``fresh_since``), it takes the last generation read that *started* at or after
that time instead of reading again. Such a read began after the request arrived, so after
every change committed before the request was sent: it sees them all, as the request's own
read would. Under load, one read then serves the requests that were queued while it ran,
and far fewer requests hand the GIL over for a database call.

Decisions:

- This node's own lists are read from its own database and are always current; the
  validity period of a published version is about readers elsewhere, so it is not applied
  to the node's own view (``checked_at`` is None and the validity dates are cleared).
- A peer key with no record of where it came from (pin, announcement, re-pin) is left out:
  an unknown key grants nothing.
- After a rebuild, every key whose state changed (compromised, retired, rotated out, gone, or
  its peer no longer trusted) is dropped from the signature cache. Every worker and replica
  rebuilds when the generation moves, so each empties its own cache, whoever made the change.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from credentials.data_integrity import proofs_of
from credentials.errors import InvalidKeyError, MalformedInputError, VerificationError
from credentials.keys import PublicKey
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject, loads_object
from node.storage import federation_repo, keys_repo, status_repo, trust_repo
from node.storage.db import Database
from registry.mra import MutualRecognitionAgreement
from registry.peer_keys import parse_did_document
from registry.pipeline import OWN_LIST_ID
from registry.status_list import StatusListCredentialInfo, parse_status_list_credential
from registry.trust_snapshot import (
    AgreementState,
    KeyState,
    PeerState,
    StatusListState,
    TrustLimits,
    TrustSnapshot,
)

__all__ = ["OWN_RELATIONSHIPS", "TrustSnapshotSource", "own_proof_value"]

#: This node lists each of its keys for both (see NodeIdentity.did_document).
OWN_RELATIONSHIPS = frozenset({"assertionMethod", "authentication"})
_PARSED_MAX = 512


def own_proof_value(document: JSONObject, own_did: str) -> str | None:
    """The proofValue of the (last) proof this node made on ``document``, if any."""
    found = None
    for proof in proofs_of(document):
        vm = proof.get("verificationMethod")
        value = proof.get("proofValue")
        if isinstance(vm, str) and vm.startswith(own_did + "#") and isinstance(value, str):
            found = value
    return found


def _key_states(snapshot: TrustSnapshot) -> dict[str, tuple[KeyState, bool]]:
    """Every key of a snapshot by multibase, with whether its controller is trusted."""
    states = {k.multibase: (k, True) for k in snapshot.own_keys.values()}
    for peer in snapshot.peers.values():
        states.update({k.multibase: (k, peer.trusted) for k in peer.keys.values()})
    return states


def _forget_changed_keys(
    cache: SignatureCache, previous: TrustSnapshot, current: TrustSnapshot
) -> None:
    """Drop the cached signature checks of every key whose state changed or that is gone."""
    after = _key_states(current)
    for multibase, state in _key_states(previous).items():
        if after.get(multibase) == state:
            continue
        try:
            raw = PublicKey.from_multibase(multibase).raw
        except (InvalidKeyError, MalformedInputError):
            continue  # never resolvable, so never cached
        cache.forget_key(raw)


def _signed_by_compromised(document: str, peers: dict[str, PeerState]) -> bool:
    try:
        proofs = proofs_of(loads_object(document))
    except MalformedInputError:
        return True
    for proof in proofs:
        vm = proof.get("verificationMethod")
        if not isinstance(vm, str):
            return True
        peer = peers.get(vm.split("#", 1)[0])
        key = peer.keys.get(vm) if peer is not None else None
        if key is None or key.compromised_since is not None:
            return True
    return False


class TrustSnapshotSource:
    """The current trust snapshot of one node, rebuilt when the database says so.

    Args:
        db: The node database.
        did: The node's did:web.
        base_url: The node's public base URL.
        limits: Freshness limits and skew.
        signature_cache: Emptied of a key's entries when a rebuild finds its state changed.

    """

    def __init__(
        self,
        *,
        db: Database,
        did: str,
        base_url: str,
        limits: TrustLimits,
        signature_cache: SignatureCache | None = None,
    ) -> None:
        self._db = db
        self._generation_sql = trust_repo.generation_sql(db.engine.dialect)
        self._signatures = signature_cache
        self._last_built: TrustSnapshot | None = None
        self._did = did
        self._base_url = base_url.rstrip("/")
        self._limits = limits
        self._lock = threading.Lock()
        self._snapshot: TrustSnapshot | None = None
        self._parsed: dict[tuple[str, str], StatusListCredentialInfo] = {}
        # The latest completed generation read: (time.monotonic() just before it began, value).
        self._last_read: tuple[float, int] | None = None

    def current(self, *, fresh_since: float | None = None) -> TrustSnapshot:
        """The snapshot at the database's current generation.

        Args:
            fresh_since: When the request asking was received (``time.monotonic()``); a
                generation read that began at or after it stands in for a new read (see the
                module docstring). None (the default) always reads.

        Raises:
            StorageError: The database cannot be read.
        """
        generation = self.generation(fresh_since)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.generation == generation:
                return snapshot
            started = time.monotonic()
            snapshot = self._build()
            previous, self._last_built = self._last_built, snapshot
            if self._signatures is not None and previous is not None:
                _forget_changed_keys(self._signatures, previous, snapshot)
            self._snapshot = snapshot
            # The build read the generation too (after ``started``): requests that may share
            # a read now find the snapshot's own generation rather than an older one that
            # would send each of them into another rebuild.
            self._remember(started, snapshot.generation)
            return snapshot

    def generation(self, fresh_since: float | None = None) -> int:
        """The trust generation, read now or by a read that began at or after ``fresh_since``.

        Raises:
            StorageError: The database cannot be read.
        """
        last = self._last_read
        if fresh_since is not None and last is not None and last[0] >= fresh_since:
            return last[1]
        # Stamped before the statement is sent: the read begins after this time, so it sees
        # every change committed before it (what a request received then may rely on).
        started = time.monotonic()
        # One statement, no transaction (Database.read_value): this runs on every request.
        generation = int(self._db.read_value(self._generation_sql) or 0)
        self._remember(started, generation)
        return generation

    def _remember(self, started: float, generation: int) -> None:
        """Keep a completed read (begun at ``started``) unless one that began later is kept."""
        # Concurrent reads may finish out of order: keep the one that began last. (A race
        # lost between threads keeps an earlier read, which is still a true one: it only
        # lets fewer requests share it.)
        last = self._last_read
        if last is None or started > last[0]:
            self._last_read = (started, generation)

    def invalidate(self) -> None:
        """Forget the snapshot and the last generation read (the next request rebuilds)."""
        self._last_read = None
        self._snapshot = None

    # -- building ------------------------------------------------------------------------

    def _info(self, key: tuple[str, str], document: str) -> StatusListCredentialInfo:
        info = self._parsed.get(key)
        if info is None:
            info = parse_status_list_credential(loads_object(document))
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()
            self._parsed[key] = info
        return info

    def _build(self) -> TrustSnapshot:
        with self._db.read() as conn:
            # Read the generation first: a change committed meanwhile moves it again, and
            # the next request rebuilds (never a newer generation over older data).
            generation = trust_repo.read_generation(conn)
            keys = keys_repo.list_keys(conn)
            peers = federation_repo.list_peers(conn)
            documents = {p.did: federation_repo.get_did_document(conn, p.did) for p in peers}
            records = trust_repo.list_peer_key_records(conn)
            mras = [
                *federation_repo.list_mras(conn, state="active"),
                *federation_repo.list_mras(conn, state="terminated"),
            ]
            own_lists = status_repo.latest_versions(conn, status_repo.list_ids(conn))
            peer_lists = [
                federation_repo.current_status_list(conn, url)
                for p in peers
                for url in federation_repo.status_list_urls(conn, p.did)
            ]
        own_keys = {
            f"{self._did}#{k.kid}": KeyState(
                vm_id=f"{self._did}#{k.kid}",
                controller=self._did,
                multibase=k.public_key_multibase,
                relationships=OWN_RELATIONSHIPS,
                not_before=k.created_at,
                compromised_since=k.compromised_since,
                not_after=k.retired_at,
            )
            for k in keys
            if not k.pending  # announced to partners, not published: signs nothing yet
        }
        starts = {(r.peer_did, r.multibase): r for r in records}
        peer_states = {}
        for peer in peers:
            stored = documents.get(peer.did)
            peer_keys: dict[str, KeyState] = {}
            trusted, reason = peer.trusted, peer.untrusted_reason
            if stored is not None:
                try:
                    parsed = parse_did_document(loads_object(stored[0]), peer.did)
                except (MalformedInputError, VerificationError) as e:
                    trusted, reason = False, f"stored DID document unreadable: {e.message}"
                else:
                    for key in parsed.keys.values():
                        record = starts.get((peer.did, key.multibase))
                        if record is None:
                            continue  # no record of where it came from: grants nothing
                        peer_keys[key.vm_id] = KeyState(
                            vm_id=key.vm_id,
                            controller=peer.did,
                            multibase=key.multibase,
                            relationships=key.relationships,
                            not_before=record.not_before,
                            compromised_since=key.revoked,
                            not_after=record.not_after,
                        )
            peer_states[peer.did] = PeerState(
                did=peer.did,
                name=peer.name,
                base_url=peer.base_url,
                trusted=trusted,
                untrusted_reason=reason,
                keys=peer_keys,
                did_document_fetched_at=stored[1] if stored is not None else None,
            )
        agreements = []
        for mra_record in mras:
            try:
                document = loads_object(mra_record.document)
                mra = MutualRecognitionAgreement.from_dict(document)
            except (MalformedInputError, VerificationError):
                continue
            recorded = mra_record.own_proof_value is not None and (
                own_proof_value(document, self._did) == mra_record.own_proof_value
            )
            agreements.append(
                AgreementState(
                    mra=mra,
                    state=mra_record.state,
                    termination_effective=mra_record.termination_effective,
                    own_signature_recorded=recorded,
                )
            )
        lists: dict[str, StatusListState] = {}
        for list_id, version in own_lists.items():
            url = f"{self._base_url}/status-lists/{list_id}"
            info = self._info((url, f"v{version.version}"), version.document)
            lists[url] = StatusListState(
                url=url,
                issuer=info.issuer,
                info=dataclasses.replace(info, valid_from=None, valid_until=None),
                checked_at=None,
            )
        for peer_list in peer_lists:
            if peer_list is None or _signed_by_compromised(peer_list.document, peer_states):
                continue  # a list signed by a compromised key says nothing: fetch a new one
            info = self._info((peer_list.url, peer_list.valid_from.isoformat()), peer_list.document)
            lists[peer_list.url] = StatusListState(
                url=peer_list.url,
                issuer=peer_list.peer_did,
                info=info,
                checked_at=peer_list.confirmed_at,
            )
        return TrustSnapshot(
            own_did=self._did,
            own_base_url=self._base_url,
            own_keys=own_keys,
            peers=peer_states,
            agreements=tuple(agreements),
            status_lists=lists,
            limits=self._limits,
            generation=generation,
        )

    # -- history ---------------------------------------------------------------------------

    def lists_at(self, urls: Iterable[str], at: datetime) -> dict[str, StatusListState]:
        """The status list versions this node held for ``at`` (for a historical question).

        Own lists: the version published last at or before ``at`` (the node keeps them
        all). Peers' lists: the newest version valid from at or before ``at``, with the time
        it was last confirmed; the pipeline treats a version confirmed too long before
        ``at`` as a gap in the history (``unknown``).
        """
        prefix = self._base_url + "/status-lists/"
        held: dict[str, StatusListState] = {}
        with self._db.read() as conn:
            for url in set(urls):
                if url.startswith(prefix) and OWN_LIST_ID.match(url[len(prefix) :]):
                    own = status_repo.version_at(conn, url[len(prefix) :], at)
                    if own is not None:
                        info = self._info((url, f"v{own.version}"), own.document)
                        held[url] = StatusListState(
                            url=url,
                            issuer=info.issuer,
                            info=dataclasses.replace(info, valid_from=None, valid_until=None),
                            checked_at=None,
                        )
                    continue
                peer = federation_repo.status_list_at(conn, url, at)
                if peer is not None:
                    info = self._info((url, peer.valid_from.isoformat()), peer.document)
                    held[url] = StatusListState(
                        url=url, issuer=peer.peer_did, info=info, checked_at=peer.confirmed_at
                    )
        return held
