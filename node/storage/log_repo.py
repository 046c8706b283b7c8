"""The transparency log's tables: head, entries, subtree hashes and signed checkpoints.

Appends are deferred: code that signs something calls :func:`queue_entry` inside its write
transaction, and :meth:`node.storage.db.Database.write` appends whatever is queued as the last
statements before commit (only the trust generation bump comes after). Every appender thus
takes the log head's lock last and in one order, so appends cannot deadlock with the other
head locks (audit chain, status lists), and a rolled-back transaction logs nothing. Code that
needs the index of its entry (scan attestations) calls :func:`node.storage.db.append_queued`
itself (audit events first, then log entries, the order every transaction keeps), at the
end of its transaction.

The Merkle arithmetic is pure (:mod:`scan_attestation.merkle`); this module only moves bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from node.storage.driver import DriverStatement
from node.storage.errors import StorageError
from node.storage.schema import log_checkpoints, log_entries, log_hashes, log_head
from scan_attestation import merkle
from scan_attestation.merkle import Coord

__all__ = [
    "CheckpointRow",
    "LogHead",
    "append_queued",
    "coord_key",
    "drop_queued",
    "entries_between",
    "find_entries",
    "get_checkpoint",
    "hashes_at",
    "insert_checkpoint",
    "latest_checkpoint",
    "queue_entry",
    "queued_count",
    "read_head",
    "set_checkpoint_note",
    "take_queued",
]

_QUEUE = "trustlane_log_queue"
#: Keys per IN (...) query when reading subtree hashes (bounded statement size).
_CHUNK = 500
#: Subtree (level, idx) is stored under level * 2**56 + idx: levels stay below 64 and a log
#: stays below 2**56 entries, so keys fit a signed 64-bit integer.
_LEVEL_SHIFT = 56
# The statements of an append, run on the driver's cursor (node.storage.driver), built once:
# every signature the node makes runs them.
_LOCK_HEAD = DriverStatement(
    select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1).with_for_update()
)
_INSERT_ENTRIES = DriverStatement(log_entries.insert(), columns=("idx", "entry", "document_id"))
_INSERT_HASHES = DriverStatement(log_hashes.insert(), columns=("key", "hash"))
_MOVE_HEAD = DriverStatement(update(log_head).where(log_head.c.id == 1), columns=("size", "root"))


@functools.lru_cache(maxsize=64)
def _hashes_at(count: int) -> DriverStatement:
    """The read of ``count`` subtree hashes (binds ``k0`` ... ``k<count - 1>``)."""
    keys = [bindparam(f"k{i}", type_=log_hashes.c.key.type) for i in range(count)]
    return DriverStatement(
        select(log_hashes.c.key, log_hashes.c.hash).where(log_hashes.c.key.in_(keys))
    )


@dataclass(frozen=True)
class LogHead:
    """The log's size and root."""

    size: int
    root: bytes


@dataclass(frozen=True)
class CheckpointRow:
    """A signed checkpoint as stored."""

    size: int
    root: bytes
    note: str
    signed_at: datetime


def queue_entry(conn: Connection, document_id: str, entry: bytes) -> None:
    """Queue ``entry`` to be appended when this write transaction commits."""
    conn.info.setdefault(_QUEUE, []).append((document_id, entry))


def queued_count(conn: Connection) -> int:
    """How many entries this transaction has queued so far (a mark for :func:`drop_queued`)."""
    return len(conn.info.get(_QUEUE, ()))


def drop_queued(conn: Connection, mark: int) -> None:
    """Forget the entries queued after ``mark``: their savepoint was rolled back."""
    queued: list[tuple[str, bytes]] | None = conn.info.get(_QUEUE)
    if queued is not None:
        del queued[mark:]


def take_queued(conn: Connection) -> list[tuple[str, bytes]]:
    """The queued entries (and clear the queue)."""
    queued: list[tuple[str, bytes]] = conn.info.pop(_QUEUE, [])
    return queued


def _lock_head(conn: Connection) -> LogHead:
    row = _LOCK_HEAD.first(conn)
    if row is None:  # migration 0008 creates the row
        raise StorageError("the transparency log head is missing: run the migrations")
    size, root = row
    return LogHead(int(size), bytes(root))


def read_head(conn: Connection) -> LogHead:
    """The log's current size and root (size 0 before the first append)."""
    row = conn.execute(select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1)).first()
    if row is None:
        return LogHead(0, merkle.EMPTY_ROOT)
    return LogHead(int(row.size), bytes(row.root))


def coord_key(coord: Coord) -> int:
    """The ``log_hashes`` key of subtree (level, idx)."""
    level, idx = coord
    if not 0 <= idx < 1 << _LEVEL_SHIFT or not 0 <= level < 64:
        raise ValueError(f"subtree {coord} is beyond what the log stores")
    return (level << _LEVEL_SHIFT) | idx


def _coord(key: int) -> Coord:
    return key >> _LEVEL_SHIFT, key & ((1 << _LEVEL_SHIFT) - 1)


def hashes_at(conn: Connection, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    """The stored subtree hashes at ``coords`` (missing coords are simply absent)."""
    wanted = sorted({coord_key(c) for c in coords})
    found: dict[Coord, bytes] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = _hashes_at(len(chunk)).all(conn, {f"k{i}": key for i, key in enumerate(chunk)})
        for key, value in rows:
            found[_coord(int(key))] = bytes(value)
    return found


def append_queued(conn: Connection) -> list[int]:
    """Append the queued entries under the head lock; return their indexes (in queue order).

    Reads the few stored hashes the append needs in one query, inserts the new leaves and
    every subtree they complete, and moves the head to the new size and root.
    """
    queued = take_queued(conn)
    if not queued:
        return []
    head = _lock_head(conn)
    leaf_hashes = [merkle.leaf_hash(entry) for _, entry in queued]
    size = head.size + len(queued)
    roots = merkle.root_coords(size)
    # One read for both needs: the old subtrees the append combines with, and the subtrees
    # of the new root that the append leaves as they were. A subtree is stored once it is
    # complete and never changes, so the new root's subtrees that this append completes are
    # simply not found (and are computed below).
    known = hashes_at(conn, [*merkle.coords_read_by_append(head.size, len(leaf_hashes)), *roots])
    new_hashes = merkle.stored_hashes_after_append(head.size, leaf_hashes, known.__getitem__)
    _INSERT_ENTRIES.many(
        conn,
        [
            {"idx": head.size + i, "entry": entry, "document_id": document_id}
            for i, (document_id, entry) in enumerate(queued)
        ],
    )
    _INSERT_HASHES.many(
        conn, [{"key": coord_key(coord), "hash": value} for coord, value in new_hashes]
    )
    computed = {**known, **dict(new_hashes)}
    root = merkle.fold_root([computed[c] for c in roots])
    _MOVE_HEAD.rowcount(conn, {"size": size, "root": root})
    return list(range(head.size, size))


def entries_between(conn: Connection, start: int, end: int) -> list[bytes]:
    """Entries ``start`` (inclusive) to ``end`` (exclusive), in order."""
    rows = conn.execute(
        select(log_entries.c.entry)
        .where(log_entries.c.idx >= start, log_entries.c.idx < end)
        .order_by(log_entries.c.idx)
    ).all()
    return [bytes(r.entry) for r in rows]


def find_entries(conn: Connection, document_id: str) -> list[int]:
    """Indexes of the entries naming ``document_id`` (oldest first)."""
    rows = conn.execute(
        select(log_entries.c.idx)
        .where(log_entries.c.document_id == document_id)
        .order_by(log_entries.c.idx)
    ).all()
    return [int(r.idx) for r in rows]


def _checkpoint(row: Row[Any]) -> CheckpointRow:
    m = row._mapping
    return CheckpointRow(
        size=int(m["size"]), root=bytes(m["root"]), note=str(m["note"]), signed_at=m["signed_at"]
    )


def get_checkpoint(conn: Connection, size: int) -> CheckpointRow | None:
    """The checkpoint signed at ``size``, or None."""
    row = conn.execute(select(log_checkpoints).where(log_checkpoints.c.size == size)).first()
    return None if row is None else _checkpoint(row)


def latest_checkpoint(conn: Connection) -> CheckpointRow | None:
    """The checkpoint of the greatest size, or None before the first."""
    row = conn.execute(
        select(log_checkpoints).order_by(log_checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else _checkpoint(row)


def insert_checkpoint(
    conn: Connection, *, size: int, root: bytes, note: str, signed_at: datetime
) -> bool:
    """Store a checkpoint unless one of that size exists; True when this call stored it.

    Ed25519 signatures are deterministic, so two replicas signing one size produce the same
    note; the first stored wins and the other is dropped.
    """
    if get_checkpoint(conn, size) is not None:
        return False
    conn.execute(
        log_checkpoints.insert().values(size=size, root=root, note=note, signed_at=signed_at)
    )
    return True


def set_checkpoint_note(conn: Connection, size: int, note: str) -> None:
    """Replace the note of checkpoint ``size`` (the same checkpoint with more cosignatures)."""
    conn.execute(update(log_checkpoints).where(log_checkpoints.c.size == size).values(note=note))
