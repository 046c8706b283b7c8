"""Asking partners to witness this node's log, and watching theirs for split views.

Each sync round (:mod:`node.federation.scheduler`):

* **cosign**: the node sends its latest checkpoint to every trusted partner's
  ``/add-checkpoint`` (C2SP tlog-witness) with a consistency proof from the size that partner
  last cosigned; a 409 names the size the partner holds, and the node retries once from it.
  Each cosignature is checked with the partner's key before it is added to the stored
  checkpoint, so ``/checkpoint`` serves the node's signature and its witnesses'.
* **watch**: the node reads each partner's ``/checkpoint`` and, when it is not the head it
  cosigned, asks the partner's log for a consistency proof between the two. Two signed
  checkpoints of one size with different roots, or a proof that does not verify, is a split
  view: recorded and counted (``split_view_alerts``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime

from credentials.errors import TrustlaneError
from credentials.keys import PublicKey
from credentials.strict_json import loads_object
from node.federation.fetcher import Fetcher, PeerHTTPError
from node.federation.sync import PeerSync, SyncOutcome
from node.federation.witness import log_keys
from node.services.transparency import TransparencyLog
from node.services.trust import TrustSnapshotSource
from node.storage import log_repo, witness_repo
from node.storage.db import Database
from registry.trust_snapshot import PeerState
from scan_attestation.checkpoint import parse_checkpoint, verify_cosignature
from scan_attestation.log_entry import log_origin, witness_name
from scan_attestation.merkle import verify_consistency
from scan_attestation.note import Note, NoteError, format_note, parse_note, verify_note_signature

__all__ = ["Cosigning"]

log = logging.getLogger(__name__)

_MAX_SIZE_BODY = 24


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


class Cosigning:
    """Gathers cosignatures for this log and checks partners' logs for split views."""

    def __init__(
        self,
        *,
        db: Database,
        log: TransparencyLog,
        trust: TrustSnapshotSource,
        sync: PeerSync,
        clock: Callable[[], datetime],
        ca_bundles: Callable[[str], str | None],
    ) -> None:
        self._db = db
        self._log = log
        self._trust = trust
        self._sync = sync
        self._clock = clock
        self._ca_bundles = ca_bundles

    def _fetcher(self) -> Fetcher:
        # The one way to reach a peer, as the sync job holds it (tests swap it there).
        return self._sync.fetcher

    def _partners(self) -> list[PeerState]:
        return [p for p in self._trust.current().peers.values() if p.trusted]

    def round(self, now: datetime) -> list[SyncOutcome]:
        """Ask every partner to cosign, then watch every partner's log."""
        outcomes = []
        for peer in self._partners():
            for resource, step in (("cosign", self.cosign), ("log", self.watch)):
                try:
                    detail = step(peer, now)
                except TrustlaneError as e:
                    outcomes.append(SyncOutcome(peer.did, resource, False, e.diagnostics()))
                else:
                    outcomes.append(SyncOutcome(peer.did, resource, True, detail))
        return outcomes

    def cosign(self, peer: PeerState, now: datetime) -> str:
        """Have ``peer`` cosign the current checkpoint; return what happened."""
        checkpoint = self._log.checkpoint(now)
        if checkpoint.size == 0:
            return "empty log"
        with self._db.read() as conn:
            old = witness_repo.read_witness_size(conn, peer.did)
        name = witness_name(peer.did)
        keys = log_keys(peer)
        if old == checkpoint.size and any(
            verify_cosignature(parse_note(checkpoint.note), name, k) is not None for k in keys
        ):
            return f"size {old} already cosigned"
        answer = None
        for _ in range(2):  # once, and once more from the size a 409 names
            if old > checkpoint.size:
                raise TrustlaneError(
                    f"{peer.did} holds size {old} of this log, beyond its {checkpoint.size}",
                    code="WITNESS_AHEAD",
                )
            proof = self._log.consistency_proof(old, checkpoint.size) if old else []
            body = f"old {old}\n" + "".join(_b64(h) + "\n" for h in proof) + "\n"
            try:
                answer = self._fetcher().post(
                    peer.base_url + "/add-checkpoint",
                    body=(body + checkpoint.note).encode(),
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                    ca_bundle=self._ca_bundles(peer.did),
                )
                break
            except PeerHTTPError as e:
                text = e.body[:_MAX_SIZE_BODY].decode("ascii", "replace").strip()
                if e.status_code != 409 or not text.isdigit():
                    raise
                old = int(text)
        if answer is None:
            raise TrustlaneError(f"{peer.did} kept answering 409", code="WITNESS_CONFLICT")
        return self._store_cosignature(peer, checkpoint.size, answer.body, keys, name, now)

    def _store_cosignature(
        self,
        peer: PeerState,
        size: int,
        body: bytes,
        keys: list[PublicKey],
        name: str,
        now: datetime,
    ) -> str:
        with self._db.write() as conn:
            stored = log_repo.get_checkpoint(conn, size)
            if stored is None:  # pragma: no cover - signed just before
                raise TrustlaneError("checkpoint vanished", code="LOG_RANGE")
            note = parse_note(stored.note)
            try:
                lines = parse_note(note.text + "\n" + body.decode("utf-8")).signatures
            except (NoteError, UnicodeDecodeError) as e:
                raise TrustlaneError(
                    f"{peer.did} answered with no cosignature line", code="WITNESS_ANSWER"
                ) from e
            good = [
                s
                for s in lines
                if s.name == name
                and any(
                    verify_cosignature(Note(note.text, (s,)), name, k) is not None for k in keys
                )
            ]
            if not good:
                raise TrustlaneError(
                    f"{peer.did}'s cosignature does not verify", code="WITNESS_ANSWER"
                )
            kept = [s for s in note.signatures if s.name != name]
            log_repo.set_checkpoint_note(
                conn, size, format_note(Note(note.text, (*kept, good[-1])))
            )
            witness_repo.set_witness_size(conn, peer.did, size, now)
        return f"cosigned size {size}"

    def watch(self, peer: PeerState, now: datetime) -> str:
        """Compare ``peer``'s published checkpoint with the head this node cosigned."""
        ca_bundle = self._ca_bundles(peer.did)
        origin = log_origin(peer.did)
        fetched = self._fetcher().get(peer.base_url + "/checkpoint", ca_bundle=ca_bundle)
        try:
            note = parse_note(fetched.body)
            published = parse_checkpoint(note.text)
        except NoteError as e:
            raise TrustlaneError(
                f"{peer.did}'s checkpoint: {e.message}", code="BAD_CHECKPOINT"
            ) from e
        if published.origin != origin or not any(
            verify_note_signature(note, origin, k) for k in log_keys(peer)
        ):
            raise TrustlaneError(
                f"{peer.did}'s checkpoint is not signed by its log key", code="BAD_CHECKPOINT"
            )
        with self._db.read() as conn:
            head = witness_repo.lock_head(conn, origin, lock=False)
        if head is None or (head.size == published.size and head.root == published.root):
            return f"size {published.size}"
        if head.size == published.size:
            detail = f"two signed checkpoints of size {head.size} with different roots"
        elif head.size > published.size:
            detail = f"the log shrank from {head.size} to {published.size} entries"
        else:
            url = f"{peer.base_url}/log/proof/consistency?first={head.size}&second={published.size}"
            proof_doc = loads_object(self._fetcher().get(url, ca_bundle=ca_bundle).body)
            hashes = proof_doc.get("hashes")
            listed = hashes if isinstance(hashes, list) else []
            try:
                proof = [base64.b64decode(str(h), validate=True) for h in listed]
            except ValueError:
                proof = []  # the log's own answer is not a proof: that is no proof either
            if verify_consistency(head.size, published.size, head.root, published.root, proof):
                return f"size {published.size}, consistent with cosigned {head.size}"
            detail = f"no valid consistency proof from {head.size} to {published.size}"
        with self._db.write() as conn:
            witness_repo.insert_alert(
                conn,
                origin=origin,
                peer_did=peer.did,
                detected_at=now,
                detail=detail,
                known_checkpoint=head.checkpoint,
                conflicting_checkpoint=fetched.body.decode("utf-8", "replace"),
            )
        log.error("split view of %s: %s", peer.did, detail)
        raise TrustlaneError(f"split view: {detail}", code="SPLIT_VIEW")
