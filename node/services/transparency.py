"""The node's transparency log: every document it signs, as an RFC 9162 Merkle tree.

Signing code calls :func:`record_signed` inside its write transaction; the entry is appended
when that transaction commits (:mod:`node.storage.log_repo`). :class:`TransparencyLog` signs
C2SP checkpoints over the tree, answers inclusion and consistency proofs and serves C2SP
tiles. The Merkle, note and tile formats are the pure :mod:`scan_attestation` modules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject
from node.services.identity import NodeIdentity
from node.storage import log_repo
from node.storage.db import Database, StorageConflictError
from node.storage.log_repo import CheckpointRow, LogHead
from scan_attestation import merkle, tiles
from scan_attestation.checkpoint import Checkpoint, sign_checkpoint
from scan_attestation.log_entry import log_entry, log_origin

__all__ = ["LogRangeError", "TransparencyLog", "record_signed"]


def record_signed(
    conn: Connection, document: JSONObject, *, document_id: str | None = None
) -> None:
    """Log a document the node just signed (appended when ``conn``'s transaction commits).

    ``document_id`` names a document that has no ``id`` of its own (a termination notice).
    """
    entry = log_entry(document, document_id=document_id)
    doc_id = document.get("id", document_id)
    log_repo.queue_entry(conn, str(doc_id), entry)


class LogRangeError(MalformedInputError):
    """A proof or tile asked about entries or sizes the log does not have."""

    code = "LOG_RANGE"


class TransparencyLog:
    """Checkpoints, proofs and tiles of one node's log."""

    def __init__(self, *, db: Database, identity: NodeIdentity) -> None:
        self._db = db
        self._identity = identity
        self.origin = log_origin(identity.did)

    def head(self) -> LogHead:
        """The log's current size and root."""
        with self._db.read() as conn:
            return log_repo.read_head(conn)

    def checkpoint(self, now: datetime) -> CheckpointRow:
        """The signed checkpoint of the current tree (signed now when the tree moved)."""
        with self._db.read() as conn:
            head = log_repo.read_head(conn)
            latest = log_repo.latest_checkpoint(conn)
        if latest is not None and latest.size >= head.size:
            return latest
        signer = self._identity.current()
        note = sign_checkpoint(
            Checkpoint(origin=self.origin, size=head.size, root=head.root),
            self.origin,
            signer.key,
        )
        try:
            with self._db.write() as conn:
                log_repo.insert_checkpoint(
                    conn, size=head.size, root=head.root, note=note, signed_at=now
                )
        except StorageConflictError:
            pass  # another worker stored this size first: the same tree, its note is as good
        with self._db.read() as conn:
            stored = log_repo.get_checkpoint(conn, head.size)
        if stored is None:  # pragma: no cover - stored above or by the racing worker
            raise RuntimeError("checkpoint vanished")
        return stored

    def _assemble(self, plan: list[list[merkle.Coord]], size: int) -> list[bytes]:
        # Every hash a proof needs is a stored complete subtree; a tree larger than the log
        # lacks some, which answers "no such tree" without a query for the log's size.
        needed = merkle.needed_coords(plan)
        with self._db.read() as conn:
            found = log_repo.hashes_at(conn, needed)
            if len(found) != len(needed):
                head = log_repo.read_head(conn)
                raise LogRangeError(f"the log has {head.size} entries, not {size}")
        return merkle.assemble(plan, found)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``.

        Raises:
            LogRangeError: ``index`` >= ``size`` or ``size`` beyond the log.
        """
        if not 0 <= index < size:
            raise LogRangeError(f"entry {index} is not in a tree of {size} entries")
        return self._assemble(merkle.inclusion_proof_plan(index, size), size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes.

        Raises:
            LogRangeError: ``old_size`` > ``new_size`` or ``new_size`` beyond the log.
        """
        if not 0 <= old_size <= new_size:
            raise LogRangeError(f"no consistency proof from {old_size} to {new_size} entries")
        if old_size == 0 or old_size == new_size:
            # RFC 9162: the proof is empty; the tree must still exist.
            self._assemble([merkle.root_coords(new_size)] if new_size else [], new_size)
            return []
        return self._assemble(merkle.consistency_proof_plan(old_size, new_size), new_size)

    def entries_for(self, document_id: str) -> list[int]:
        """Indexes of the entries naming a document."""
        with self._db.read() as conn:
            return log_repo.find_entries(conn, document_id)

    def hash_tile(self, level: int, index: int, width: int) -> bytes | None:
        """The C2SP hash tile, or None while the tree does not hold it yet."""
        coords = tiles.tile_coords(level, index, width)
        with self._db.read() as conn:
            found = log_repo.hashes_at(conn, coords)
        if len(found) != len(coords):
            return None
        return b"".join(found[c] for c in coords)

    def entry_bundle(self, index: int, width: int) -> bytes | None:
        """The C2SP entry bundle, or None while the log does not hold it yet."""
        start = index * tiles.TILE_WIDTH
        with self._db.read() as conn:
            found = log_repo.entries_between(conn, start, start + width)
        if len(found) != width:
            return None
        return tiles.encode_entry_bundle(found)
