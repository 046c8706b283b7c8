"""This node as a C2SP tlog-witness for its partners' logs (``POST /add-checkpoint``).

A partner's log is known by its origin, ``<host[:port]>/log`` of the partner's did:web; only a
trusted partner with a fresh DID document is witnessed, and the checkpoint must carry a valid
signature by one of its uncompromised assertion keys. The decision itself is the pure
:func:`scan_attestation.witness.decide_add_checkpoint`; here the latest cosigned head of the
origin is read under a row lock and replaced in the same transaction, so the size check and
the write are atomic across workers and replicas (tlog-witness).

A checkpoint of the size already cosigned with another root is a split view: both notes carry
the log's signature, so the log has shown two histories. It is recorded
(``split_view_alerts``) and counted in ``/metrics`` and ``/health``.

The cosignature (C2SP tlog-cosignature, type 0x04) is made with the node's current assertion
key under the name ``<host[:port]>/witness``: partners already hold that key from the node's
DID document, and the signed message (``cosignature/v1`` header, timestamp) cannot be taken
for a checkpoint or a credential proof.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from credentials.keys import PublicKey
from node.services.identity import NodeIdentity
from node.services.trust import TrustSnapshotSource
from node.storage import witness_repo
from node.storage.db import Database, StorageConflictError
from node.storage.witness_repo import SplitViewAlert, WitnessHead
from registry.trust_snapshot import PeerState, TrustSnapshot
from scan_attestation.checkpoint import Checkpoint, cosign, parse_checkpoint
from scan_attestation.log_entry import log_origin, witness_name
from scan_attestation.note import Note, NoteError, parse_note, verify_note_signature
from scan_attestation.witness import (
    TLOG_SIZE_CONTENT_TYPE,
    Outcome,
    WitnessRequestError,
    decide_add_checkpoint,
    parse_add_checkpoint_request,
)

__all__ = ["WitnessAnswer", "WitnessService", "log_keys", "peer_for_origin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WitnessAnswer:
    """What to answer an add-checkpoint request: ``body`` for 200 and 409, else a problem."""

    status: int
    body: str
    code: str = "OK"
    content_type: str = "text/plain; charset=utf-8"


def peer_for_origin(snapshot: TrustSnapshot, origin: str) -> PeerState | None:
    """The partner whose log has this origin, or None."""
    for peer in snapshot.peers.values():
        try:
            if log_origin(peer.did) == origin:
                return peer
        except ValueError:
            continue
    return None


def log_keys(peer: PeerState) -> list[PublicKey]:
    """The partner keys that may sign its checkpoints: uncompromised assertion keys."""
    return [
        PublicKey.from_multibase(k.multibase)
        for k in peer.keys.values()
        if k.compromised_since is None and "assertionMethod" in k.relationships
    ]


def _fresh(snapshot: TrustSnapshot, peer: PeerState, now: datetime) -> bool:
    fetched = peer.did_document_fetched_at
    return (
        peer.trusted
        and fetched is not None
        and now - fetched <= snapshot.limits.did_document_max_age
    )


class WitnessService:
    """Cosigns partners' checkpoints that extend what it cosigned before."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        trust: TrustSnapshotSource,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._identity = identity
        self._trust = trust
        self._clock = clock
        self.name = witness_name(identity.did)

    def alert_count(self) -> int:
        """How many split views of partners' logs were ever recorded."""
        with self._db.read() as conn:
            return witness_repo.count_alerts(conn)

    def alerts(self) -> list[SplitViewAlert]:
        """The newest split-view alerts first."""
        with self._db.read() as conn:
            return witness_repo.list_alerts(conn)

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Answer one ``add-checkpoint`` request (tlog-witness); never raises for bad input."""
        try:
            request = parse_add_checkpoint_request(body)
            note = parse_note(request.checkpoint_note)
            checkpoint = parse_checkpoint(note.text)
        except (WitnessRequestError, NoteError) as e:
            return WitnessAnswer(400, e.message, "MALFORMED_WITNESS_REQUEST")
        now = self._clock()
        snapshot = self._trust.current()
        peer = peer_for_origin(snapshot, checkpoint.origin)
        if peer is None or not _fresh(snapshot, peer, now):
            return WitnessAnswer(
                404, f"this node does not witness {checkpoint.origin}", "UNKNOWN_LOG"
            )
        if not any(verify_note_signature(note, checkpoint.origin, k) for k in log_keys(peer)):
            return WitnessAnswer(
                403, "the checkpoint is not signed by the log's key", "BAD_LOG_SIGNATURE"
            )
        try:
            return self._decide(peer, note, checkpoint, request.old_size, request.proof, now)
        except StorageConflictError:
            # Two first requests for one origin raced on the insert: the loser retries.
            return WitnessAnswer(409, "0\n", "CONFLICT", TLOG_SIZE_CONTENT_TYPE)

    def _decide(
        self,
        peer: PeerState,
        note: Note,
        checkpoint: Checkpoint,
        old_size: int,
        proof: tuple[bytes, ...],
        now: datetime,
    ) -> WitnessAnswer:
        text = note.text + "\n" + "".join(s.line() for s in note.signatures)
        with self._db.write() as conn:
            head = witness_repo.lock_head(conn, checkpoint.origin)
            known = None if head is None else (head.size, head.root)
            decision = decide_add_checkpoint(known, old_size, proof, checkpoint)
            if decision.outcome is Outcome.CONFLICT:
                return WitnessAnswer(
                    409, decision.conflict_body(), "CONFLICT", TLOG_SIZE_CONTENT_TYPE
                )
            if not decision.accepted:
                if (
                    head is not None
                    and checkpoint.size == head.size
                    and checkpoint.root != head.root
                ):
                    witness_repo.insert_alert(
                        conn,
                        origin=checkpoint.origin,
                        peer_did=peer.did,
                        detected_at=now,
                        detail=f"two signed checkpoints of size {head.size} with different roots",
                        known_checkpoint=head.checkpoint,
                        conflicting_checkpoint=text,
                    )
                    log.error("split view: %s showed two trees of size %d", peer.did, head.size)
                code = (
                    "INCONSISTENT_CHECKPOINT"
                    if decision.status == 422
                    else "MALFORMED_WITNESS_REQUEST"
                )
                return WitnessAnswer(decision.status, decision.reason, code)
            signature = cosign(
                note.text, self.name, self._identity.current().key, int(now.timestamp())
            )
            witness_repo.put_head(
                conn,
                WitnessHead(
                    checkpoint.origin, peer.did, checkpoint.size, checkpoint.root, text, now
                ),
                existed=head is not None,
            )
        return WitnessAnswer(200, signature.line())
