"""The ``risk_decisions`` and ``risk_watch_list`` tables: stored decisions and targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, or_, select

from node.storage.schema import risk_decisions, risk_watch_list

__all__ = [
    "CONTAINER",
    "PARTY",
    "DecisionRow",
    "WatchEntry",
    "delete_watch_entry",
    "get_decision",
    "insert_decision",
    "insert_watch_entry",
    "list_decisions",
    "list_watch_entries",
    "watch_entries_matching",
]

#: ``kind`` of a watch-list entry naming a party identifier (with its scheme).
PARTY = "party"
#: ``kind`` of a watch-list entry naming an ISO 6346 container number (scheme ``""``).
CONTAINER = "container"


@dataclass(frozen=True)
class DecisionRow:
    """One stored decision: its position in the list, its id and the stored JSON."""

    seq: int
    id: str
    declaration_id: str
    channel: str
    assessed_at: datetime
    assessed_by: str
    document: str


@dataclass(frozen=True)
class WatchEntry:
    """One watch-list entry."""

    kind: str
    scheme: str
    value: str
    reason: str | None
    created_at: datetime
    created_by: str


def _decision(row: Row[Any]) -> DecisionRow:
    m = row._mapping
    return DecisionRow(
        seq=m["seq"],
        id=m["id"],
        declaration_id=m["declaration_id"],
        channel=m["channel"],
        assessed_at=m["assessed_at"],
        assessed_by=m["assessed_by"],
        document=m["document"],
    )


def _watch(row: Row[Any]) -> WatchEntry:
    m = row._mapping
    return WatchEntry(
        kind=m["kind"],
        scheme=m["scheme"],
        value=m["value"],
        reason=m["reason"],
        created_at=m["created_at"],
        created_by=m["created_by"],
    )


def insert_decision(
    conn: Connection,
    *,
    decision_id: str,
    declaration_id: str,
    channel: str,
    policy_hash: str,
    assessed_at: datetime,
    assessed_by: str,
    document: str,
) -> None:
    """Store a decision (the unique id refuses a duplicate)."""
    conn.execute(
        risk_decisions.insert().values(
            id=decision_id,
            declaration_id=declaration_id,
            channel=channel,
            policy_hash=policy_hash,
            assessed_at=assessed_at,
            assessed_by=assessed_by,
            document=document,
        )
    )


def get_decision(conn: Connection, decision_id: str) -> DecisionRow | None:
    """The decision with this id, or None."""
    row = conn.execute(select(risk_decisions).where(risk_decisions.c.id == decision_id)).first()
    return None if row is None else _decision(row)


def list_decisions(
    conn: Connection,
    *,
    limit: int,
    before: int | None = None,
    declaration_id: str | None = None,
) -> list[DecisionRow]:
    """Up to ``limit`` decisions, newest first, older than position ``before`` when given."""
    query = select(risk_decisions).order_by(risk_decisions.c.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(risk_decisions.c.seq < before)
    if declaration_id is not None:
        query = query.where(risk_decisions.c.declaration_id == declaration_id)
    return [_decision(r) for r in conn.execute(query)]


def insert_watch_entry(
    conn: Connection,
    *,
    kind: str,
    scheme: str,
    value: str,
    reason: str | None,
    now: datetime,
    actor: str,
) -> None:
    """Add an entry (the unique key refuses a duplicate)."""
    conn.execute(
        risk_watch_list.insert().values(
            kind=kind,
            scheme=scheme,
            value=value,
            reason=reason,
            created_at=now,
            created_by=actor,
        )
    )


def delete_watch_entry(conn: Connection, *, kind: str, scheme: str, value: str) -> bool:
    """Remove an entry; False when there was none."""
    done = conn.execute(
        delete(risk_watch_list).where(
            risk_watch_list.c.kind == kind,
            risk_watch_list.c.scheme == scheme,
            risk_watch_list.c.value == value,
        )
    )
    return bool(done.rowcount)


def list_watch_entries(conn: Connection) -> list[WatchEntry]:
    """Every entry, by kind, scheme and value."""
    query = select(risk_watch_list).order_by(
        risk_watch_list.c.kind, risk_watch_list.c.scheme, risk_watch_list.c.value
    )
    return [_watch(r) for r in conn.execute(query)]


def watch_entries_matching(
    conn: Connection, *, parties: Iterable[tuple[str, str]], containers: Iterable[str]
) -> list[WatchEntry]:
    """The entries naming one of ``parties`` (scheme, value) or one of ``containers``."""
    clauses = [
        and_(
            risk_watch_list.c.kind == PARTY,
            risk_watch_list.c.scheme == scheme,
            risk_watch_list.c.value == value,
        )
        for scheme, value in sorted(set(parties))
    ]
    numbers = sorted(set(containers))
    if numbers:
        clauses.append(
            and_(risk_watch_list.c.kind == CONTAINER, risk_watch_list.c.value.in_(numbers))
        )
    if not clauses:
        return []
    return [_watch(r) for r in conn.execute(select(risk_watch_list).where(or_(*clauses)))]
