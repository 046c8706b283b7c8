"""The append-only audit table and its head row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, update

from node.storage.records import AuditRecord
from node.storage.schema import audit_events, audit_head

__all__ = [
    "GENESIS_HASH",
    "append_event",
    "append_events",
    "iter_events",
    "lock_head",
    "read_head",
]

GENESIS_HASH = "0" * 64

# Built once: every issuance runs these, and building a statement costs more than running it.
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_INSERT_EVENT = audit_events.insert()
# SET takes the columns named by the parameters (``seq``, ``hash``), bound by column name.
_MOVE_HEAD = update(audit_head).where(audit_head.c.id == 1)


def lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the chain head until the transaction ends; return ``(seq, hash)`` of the head.

    The head row is created on first use; its lock serialises appenders across processes.
    """
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(row.seq), str(row.hash)


def read_head(conn: Connection) -> tuple[int, str] | None:
    """``(seq, hash)`` of the chain head, or None before the first event."""
    row = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    ).first()
    return None if row is None else (int(row.seq), str(row.hash))


def append_event(conn: Connection, record: AuditRecord) -> None:
    """Insert an event and move the head to it (call after lock_head)."""
    conn.execute(_INSERT_EVENT, _event_row(record))
    conn.execute(_MOVE_HEAD, {"seq": record.seq, "hash": record.hash})


def append_events(conn: Connection, records: Sequence[AuditRecord]) -> None:
    """Insert consecutive events and move the head to the last (call after lock_head)."""
    if not records:
        return
    conn.execute(_INSERT_EVENT, [_event_row(r) for r in records])
    last = records[-1]
    conn.execute(_MOVE_HEAD, {"seq": last.seq, "hash": last.hash})


def _event_row(r: AuditRecord) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "at": r.at,
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "details": r.details,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


def _record(row: Row[Any]) -> AuditRecord:
    m = row._mapping
    return AuditRecord(
        seq=m["seq"],
        at=m["at"],
        actor=m["actor"],
        action=m["action"],
        target=m["target"],
        details=m["details"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


def iter_events(conn: Connection, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every event in sequence order, read in batches."""
    last = 0
    while True:
        rows = conn.execute(
            select(audit_events)
            .where(audit_events.c.seq > last)
            .order_by(audit_events.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            record = _record(row)
            last = record.seq
            yield record
