"""The hash-chained audit log: record state changes, and verify the chain.

Each event's hash is SHA-256 over the RFC 8785 form of the event (sequence, time, actor,
action, target, details) and the previous event's hash, so removing, reordering or editing
any event breaks every later hash. Appends lock the chain head row, so concurrent workers
produce one chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from credentials.canonical import canonicalize
from credentials.datetimes import format_datetime
from node.storage import audit_repo
from node.storage.db import Database
from node.storage.records import AuditRecord

__all__ = ["ChainReport", "event_hash", "record_event", "record_events", "verify_chain"]


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


def record_event(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one event inside the caller's write transaction.

    Secrets never go into ``details``; callers pass identifiers only.
    """
    seq, prev = audit_repo.lock_head(conn)
    at = now.replace(microsecond=0)
    text = json.dumps(details or {}, sort_keys=True, separators=(",", ":"))
    digest = event_hash(
        prev_hash=prev, seq=seq + 1, at=at, actor=actor, action=action, target=target, details=text
    )
    record = AuditRecord(seq + 1, at, actor, action, target, text, prev, digest)
    audit_repo.append_event(conn, record)
    return record


def record_events(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    events: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[AuditRecord]:
    """Append one event per ``(target, details)``, in order, inside the caller's transaction.

    The same chain as that many :func:`record_event` calls, with one head lock and one
    multi-row insert (bulk issuance).
    """
    seq, prev = audit_repo.lock_head(conn)
    at = now.replace(microsecond=0)
    records: list[AuditRecord] = []
    for target, details in events:
        seq += 1
        text = json.dumps(details, sort_keys=True, separators=(",", ":"))
        digest = event_hash(
            prev_hash=prev, seq=seq, at=at, actor=actor, action=action, target=target, details=text
        )
        records.append(AuditRecord(seq, at, actor, action, target, text, prev, digest))
        prev = digest
    audit_repo.append_events(conn, records)
    return records


@dataclass(frozen=True)
class ChainReport:
    """Outcome of checking the audit chain."""

    ok: bool
    events: int
    problem: str | None = None


def verify_chain(db: Database) -> ChainReport:
    """Recompute every hash and link of the chain; report the first break."""
    prev = audit_repo.GENESIS_HASH
    count = 0
    with db.read() as conn:
        for event in audit_repo.iter_events(conn):
            count += 1
            if event.seq != count:
                return ChainReport(
                    False, count, f"event {event.seq}: sequence gap (expected {count})"
                )
            if not hmac.compare_digest(event.prev_hash, prev):
                return ChainReport(False, count, f"event {event.seq}: previous-hash link broken")
            expected = event_hash(
                prev_hash=prev,
                seq=event.seq,
                at=event.at,
                actor=event.actor,
                action=event.action,
                target=event.target,
                details=event.details,
            )
            if not hmac.compare_digest(expected, event.hash):
                return ChainReport(
                    False, count, f"event {event.seq}: content does not match its hash"
                )
            prev = event.hash
        head = audit_repo.read_head(conn)
    if head is not None and (head[0] != count or not hmac.compare_digest(head[1], prev)):
        return ChainReport(
            False, count, "chain head does not match the last event (events removed?)"
        )
    return ChainReport(True, count)
