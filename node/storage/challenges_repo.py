"""Presentation challenges: issue, spend once (atomically), look up, forget old ones."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from node.storage.schema import presentation_challenges as table
from registry.challenges import Challenge

__all__ = ["get_challenge", "insert_challenge", "purge_expired", "redeem_challenge"]


def insert_challenge(conn: Connection, challenge: Challenge, *, issued_by: str) -> None:
    """Store a newly issued challenge."""
    conn.execute(
        table.insert().values(
            challenge=challenge.value,
            consignment=challenge.consignment,
            port=challenge.port,
            created_at=challenge.created_at,
            expires_at=challenge.expires_at,
            used_at=challenge.used_at,
            issued_by=issued_by,
        )
    )


def redeem_challenge(
    conn: Connection, value: str, *, consignment: str, port: str, now: datetime
) -> bool:
    """Spend the challenge: True for exactly one caller, however many race.

    One conditional UPDATE: the row must be unused, unexpired at ``now`` and bound to this
    consignment and port. PostgreSQL re-checks the condition on the row after a concurrent
    writer committed (READ COMMITTED), SQLite serialises writers (``BEGIN IMMEDIATE``), so
    the row count is 1 for one caller only.
    """
    spent = conn.execute(
        update(table)
        .where(
            table.c.challenge == value,
            table.c.used_at.is_(None),
            table.c.expires_at > now,
            table.c.consignment == consignment,
            table.c.port == port,
        )
        .values(used_at=now)
    )
    return spent.rowcount == 1


def get_challenge(conn: Connection, value: str) -> Challenge | None:
    """The challenge with this value, if this node issued it (and has not forgotten it)."""
    row = conn.execute(select(table).where(table.c.challenge == value)).first()
    if row is None:
        return None
    m = row._mapping
    return Challenge(
        value=m["challenge"],
        consignment=m["consignment"],
        port=m["port"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        used_at=m["used_at"],
    )


def purge_expired(conn: Connection, before: datetime) -> int:
    """Forget challenges that expired before ``before``; return how many."""
    result = conn.execute(delete(table).where(table.c.expires_at < before))
    return result.rowcount
