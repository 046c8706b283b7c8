"""The node's signing keys: which exist, which is current, which are compromised."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from node.storage.records import KeyRecord
from node.storage.schema import node_keys
from node.storage.trust_repo import mark_trust_changed

__all__ = ["add_key", "list_keys", "mark_compromised", "set_current"]


def _record(row: Row[Any]) -> KeyRecord:
    m = row._mapping
    return KeyRecord(
        kid=m["kid"],
        public_key_multibase=m["public_key_multibase"],
        created_at=m["created_at"],
        retired_at=m["retired_at"],
        compromised_since=m["compromised_since"],
        is_current=bool(m["is_current"]),
    )


def add_key(conn: Connection, kid: str, public_key_multibase: str, created_at: datetime) -> None:
    """Record a new (not yet current) key."""
    mark_trust_changed(conn)
    conn.execute(
        node_keys.insert().values(
            kid=kid,
            public_key_multibase=public_key_multibase,
            created_at=created_at,
            is_current=False,
        )
    )


def set_current(conn: Connection, kid: str, at: datetime) -> None:
    """Make ``kid`` the current assertion key; the previous one is retired at ``at``."""
    mark_trust_changed(conn)
    conn.execute(
        update(node_keys)
        .where(node_keys.c.is_current.is_(True), node_keys.c.kid != kid)
        .values(is_current=False, retired_at=at)
    )
    conn.execute(update(node_keys).where(node_keys.c.kid == kid).values(is_current=True))


def mark_compromised(conn: Connection, kid: str, since: datetime) -> bool:
    """Record that ``kid`` is compromised since ``since``; False if no such key."""
    mark_trust_changed(conn)
    result = conn.execute(
        update(node_keys).where(node_keys.c.kid == kid).values(compromised_since=since)
    )
    return result.rowcount == 1


def list_keys(conn: Connection) -> list[KeyRecord]:
    """Every key, oldest first."""
    rows = conn.execute(select(node_keys).order_by(node_keys.c.created_at, node_keys.c.kid))
    return [_record(r) for r in rows]
