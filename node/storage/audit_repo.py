"""The append-only audit table and its head row.

Appends are deferred like the transparency log's (:mod:`node.storage.log_repo`): an event is
queued on the write transaction's connection (:func:`queue_event`) and
:meth:`node.storage.db.Database.write` appends the queue (:func:`append_queued`) just
before the log's, as the transaction's last statements. The head row's lock, which
serialises appenders across workers and replicas, is therefore held only from there to the
commit, not from the first event of a transaction (on PostgreSQL a commit's WAL flush takes
milliseconds, and everything after the lock waits for it), and every transaction takes the
audit head, then the log head, last and in that order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import IntegrityError

from credentials.canonical import canonicalize
from credentials.datetimes import format_datetime
from node.storage.driver import DriverStatement
from node.storage.records import AuditRecord
from node.storage.schema import audit_events, audit_head

__all__ = [
    "GENESIS_HASH",
    "append_event",
    "append_events",
    "append_queued",
    "drop_queued",
    "event_hash",
    "iter_events",
    "lock_head",
    "queue_event",
    "queued_count",
    "read_head",
    "take_queued",
]

GENESIS_HASH = "0" * 64

# Every issuance runs these: on the driver's cursor (node.storage.driver), built once.
_LOCK_HEAD = DriverStatement(
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_EVENT_COLUMNS = ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash")
_INSERT_EVENT = DriverStatement(audit_events.insert(), columns=_EVENT_COLUMNS)
_MOVE_HEAD = DriverStatement(
    update(audit_head).where(audit_head.c.id == 1), columns=("seq", "hash")
)


_QUEUE = "trustlane_audit_queue"


def event_hash(
    *, prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str, details: str
) -> str:
    """The chained hash of one event (hex)."""
    body = canonicalize(
        {
            "seq": seq,
            "at": format_datetime(at),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
            "prev": prev_hash,
        }
    )
    return hashlib.sha256(body).hexdigest()


def queue_event(
    conn: Connection, *, at: datetime, actor: str, action: str, target: str, details: str
) -> None:
    """Queue one event, appended to the chain when this write transaction commits."""
    conn.info.setdefault(_QUEUE, []).append((at, actor, action, target, details))


def queued_count(conn: Connection) -> int:
    """How many events this transaction has queued so far (a mark for :func:`drop_queued`)."""
    return len(conn.info.get(_QUEUE, ()))


def drop_queued(conn: Connection, mark: int) -> None:
    """Forget the events queued after ``mark``: their savepoint was rolled back."""
    queued: list[tuple[datetime, str, str, str, str]] | None = conn.info.get(_QUEUE)
    if queued is not None:
        del queued[mark:]


def take_queued(conn: Connection) -> list[tuple[datetime, str, str, str, str]]:
    """The queued events (and clear the queue)."""
    queued: list[tuple[datetime, str, str, str, str]] = conn.info.pop(_QUEUE, [])
    return queued


def append_queued(conn: Connection) -> list[AuditRecord]:
    """Append the queued events, in order, under the head lock (one multi-row insert)."""
    queued = take_queued(conn)
    if not queued:
        return []
    seq, prev = lock_head(conn)
    records: list[AuditRecord] = []
    for at, actor, action, target, details in queued:
        seq += 1
        digest = event_hash(
            prev_hash=prev,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            target=target,
            details=details,
        )
        records.append(AuditRecord(seq, at, actor, action, target, details, prev, digest))
        prev = digest
    append_events(conn, records)
    return records


def lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the chain head until the transaction ends; return ``(seq, hash)`` of the head.

    The head row is created on first use; its lock serialises appenders across processes.
    """
    row = _LOCK_HEAD.first(conn)
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS_HASH))
        except IntegrityError:
            pass  # a concurrent writer created it first: the lock below waits for it
        row = _LOCK_HEAD.first(conn)
        if row is None:  # pragma: no cover - inserted above, or by the writer we waited for
            raise RuntimeError("the audit head is missing after its creation")
    seq, head_hash = row
    return int(seq), str(head_hash)


def read_head(conn: Connection) -> tuple[int, str] | None:
    """``(seq, hash)`` of the chain head, or None before the first event."""
    row = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    ).first()
    return None if row is None else (int(row.seq), str(row.hash))


def append_event(conn: Connection, record: AuditRecord) -> None:
    """Insert an event and move the head to it (call after lock_head)."""
    _INSERT_EVENT.many(conn, [_event_row(record)])
    _MOVE_HEAD.rowcount(conn, {"seq": record.seq, "hash": record.hash})


def append_events(conn: Connection, records: Sequence[AuditRecord]) -> None:
    """Insert consecutive events and move the head to the last (call after lock_head)."""
    if not records:
        return
    _INSERT_EVENT.many(conn, [_event_row(r) for r in records])
    last = records[-1]
    _MOVE_HEAD.rowcount(conn, {"seq": last.seq, "hash": last.hash})


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
