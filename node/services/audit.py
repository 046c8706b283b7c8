"""The hash-chained audit log: record state changes, and verify the chain.

Each event's hash is SHA-256 over the RFC 8785 form of the event (sequence, time, actor,
action, target, details) and the previous event's hash, so removing, reordering or editing
any event breaks every later hash. Appends lock the chain head row, so concurrent workers
produce one chain; they happen when the recording transaction commits (see
:mod:`node.storage.audit_repo`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from node.storage import audit_repo
from node.storage.audit_repo import event_hash
from node.storage.db import Database

__all__ = ["ChainReport", "event_hash", "record_event", "record_events", "verify_chain"]


def record_event(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record one event in the caller's write transaction.

    It joins the chain when the transaction commits (:func:`audit_repo.append_queued`, run by
    :meth:`Database.write`): a rolled-back transaction records nothing. Secrets never go
    into ``details``; callers pass identifiers only.
    """
    audit_repo.queue_event(
        conn,
        at=now.replace(microsecond=0),
        actor=actor,
        action=action,
        target=target,
        details=json.dumps(details or {}, sort_keys=True, separators=(",", ":")),
    )


def record_events(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    events: Sequence[tuple[str, Mapping[str, Any]]],
) -> None:
    """Record one event per ``(target, details)``, in order, in the caller's transaction.

    The same chain as that many :func:`record_event` calls (bulk issuance).
    """
    for target, details in events:
        record_event(conn, now=now, actor=actor, action=action, target=target, details=details)


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
