"""Witnessing tables: cosigned partner heads, this log's witnesses, split-view alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from node.storage.schema import log_witnesses, split_view_alerts, witness_heads

__all__ = [
    "SplitViewAlert",
    "WitnessHead",
    "count_alerts",
    "insert_alert",
    "list_alerts",
    "lock_head",
    "put_head",
    "read_witness_size",
    "set_witness_size",
]


@dataclass(frozen=True)
class WitnessHead:
    """The latest checkpoint this node cosigned for one partner log."""

    origin: str
    peer_did: str
    size: int
    root: bytes
    checkpoint: str
    updated_at: datetime


@dataclass(frozen=True)
class SplitViewAlert:
    """Two checkpoints of one log that cannot both be true."""

    id: int
    origin: str
    peer_did: str
    detected_at: datetime
    detail: str
    known_checkpoint: str
    conflicting_checkpoint: str


def lock_head(conn: Connection, origin: str, *, lock: bool = True) -> WitnessHead | None:
    """The cosigned head of ``origin``, locked until the transaction ends (None if none)."""
    query = select(witness_heads).where(witness_heads.c.origin == origin)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    m = row._mapping
    return WitnessHead(
        m["origin"],
        m["peer_did"],
        int(m["size"]),
        bytes(m["root"]),
        m["checkpoint"],
        m["updated_at"],
    )


def put_head(conn: Connection, head: WitnessHead, *, existed: bool) -> None:
    """Store the new cosigned head (insert the first one; the primary key refuses a race)."""
    values = {
        "peer_did": head.peer_did,
        "size": head.size,
        "root": head.root,
        "checkpoint": head.checkpoint,
        "updated_at": head.updated_at,
    }
    if existed:
        conn.execute(
            update(witness_heads).where(witness_heads.c.origin == head.origin).values(**values)
        )
    else:
        conn.execute(witness_heads.insert().values(origin=head.origin, **values))


def read_witness_size(conn: Connection, peer_did: str) -> int:
    """The size of this log that ``peer_did`` last cosigned (0 when it never did)."""
    size = conn.execute(
        select(log_witnesses.c.size).where(log_witnesses.c.peer_did == peer_did)
    ).scalar()
    return 0 if size is None else int(size)


def set_witness_size(conn: Connection, peer_did: str, size: int, now: datetime) -> None:
    """Record the size ``peer_did`` cosigned."""
    changed = conn.execute(
        update(log_witnesses)
        .where(log_witnesses.c.peer_did == peer_did)
        .values(size=size, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(log_witnesses.insert().values(peer_did=peer_did, size=size, updated_at=now))


def insert_alert(
    conn: Connection,
    *,
    origin: str,
    peer_did: str,
    detected_at: datetime,
    detail: str,
    known_checkpoint: str,
    conflicting_checkpoint: str,
) -> None:
    """Record a split view."""
    conn.execute(
        split_view_alerts.insert().values(
            origin=origin,
            peer_did=peer_did,
            detected_at=detected_at,
            detail=detail,
            known_checkpoint=known_checkpoint,
            conflicting_checkpoint=conflicting_checkpoint,
        )
    )


def _alert(row: Row[Any]) -> SplitViewAlert:
    m = row._mapping
    return SplitViewAlert(
        m["id"],
        m["origin"],
        m["peer_did"],
        m["detected_at"],
        m["detail"],
        m["known_checkpoint"],
        m["conflicting_checkpoint"],
    )


def list_alerts(conn: Connection, limit: int = 100) -> list[SplitViewAlert]:
    """The newest alerts first."""
    rows = conn.execute(
        select(split_view_alerts).order_by(split_view_alerts.c.id.desc()).limit(limit)
    )
    return [_alert(r) for r in rows]


def count_alerts(conn: Connection) -> int:
    """How many split views were ever recorded."""
    return int(conn.execute(select(func.count()).select_from(split_view_alerts)).scalar() or 0)
