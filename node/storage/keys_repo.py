"""The node's signing keys and the announcements of new ones.

Which keys exist, which is current, pending (announced, not published) or compromised, and
which peers acknowledged the announcement of each new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from node.storage.records import KeyRecord
from node.storage.schema import key_announcements, node_keys
from node.storage.trust_repo import mark_trust_changed

__all__ = [
    "KeyAnnouncementRecord",
    "add_announcement",
    "add_key",
    "list_announcements",
    "list_keys",
    "mark_compromised",
    "record_announcement_attempt",
    "set_current",
]


@dataclass(frozen=True)
class KeyAnnouncementRecord:
    """The announcement of one new key to one peer."""

    kid: str
    peer_did: str
    signer_kid: str
    created_at: datetime
    acknowledged_at: datetime | None
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    next_attempt: datetime | None


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
    """Record a new key: pending (out of the DID document) until :func:`set_current`."""
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
    """Make ``kid`` the current (published) key; the previous one is retired at ``at``."""
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


# -- announcements -------------------------------------------------------------------------


def add_announcement(
    conn: Connection, *, kid: str, peer_did: str, signer_kid: str, now: datetime
) -> None:
    """Note that ``kid`` is to be announced to ``peer_did``, signed by ``signer_kid``."""
    conn.execute(
        key_announcements.insert().values(
            kid=kid,
            peer_did=peer_did,
            signer_kid=signer_kid,
            created_at=now,
            attempts=0,
            next_attempt=now,
        )
    )


def record_announcement_attempt(
    conn: Connection,
    *,
    kid: str,
    peer_did: str,
    now: datetime,
    error: str | None,
    next_attempt: datetime | None,
) -> None:
    """Record one sending: acknowledged (``error`` None) or failed, with the next try."""
    values: dict[str, Any] = {
        "attempts": key_announcements.c.attempts + 1,
        "last_attempt_at": now,
        "last_error": None if error is None else error[:2000],
        "next_attempt": next_attempt,
    }
    if error is None:
        values["acknowledged_at"] = now
        values["next_attempt"] = None
    conn.execute(
        update(key_announcements)
        .where(key_announcements.c.kid == kid, key_announcements.c.peer_did == peer_did)
        .values(**values)
    )


def list_announcements(
    conn: Connection, *, kid: str | None = None, unacknowledged: bool = False
) -> list[KeyAnnouncementRecord]:
    """Announcements (of one key), oldest first; optionally only those not acknowledged."""
    query = select(key_announcements).order_by(
        key_announcements.c.created_at, key_announcements.c.kid, key_announcements.c.peer_did
    )
    if kid is not None:
        query = query.where(key_announcements.c.kid == kid)
    if unacknowledged:
        query = query.where(key_announcements.c.acknowledged_at.is_(None))
    return [
        KeyAnnouncementRecord(
            kid=r.kid,
            peer_did=r.peer_did,
            signer_kid=r.signer_kid,
            created_at=r.created_at,
            acknowledged_at=r.acknowledged_at,
            attempts=int(r.attempts),
            last_attempt_at=r.last_attempt_at,
            last_error=r.last_error,
            next_attempt=r.next_attempt,
        )
        for r in conn.execute(query)
    ]
