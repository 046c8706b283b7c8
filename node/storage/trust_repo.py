"""The trust generation and the records of where each peer key came from.

Every write that changes what verification trusts (keys, peers, DID documents, status lists,
agreements) calls :func:`mark_trust_changed`; :class:`~node.storage.db.Database` then bumps
the generation as the very last statement of that transaction, so the generation row is
always the last lock a writer takes (no lock-order deadlock with list or peer rows). Workers
compare the generation with the one their trust snapshot was built at and rebuild on change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, select, update

from node.storage.schema import peer_key_records, trust_generation

__all__ = [
    "PeerKeyRecord",
    "bump_generation",
    "end_peer_key",
    "generation_sql",
    "list_peer_key_records",
    "mark_trust_changed",
    "read_generation",
    "record_peer_key",
    "take_trust_changed",
]

_FLAG = "trustlane_trust_changed"


@dataclass(frozen=True)
class PeerKeyRecord:
    """Where a peer key came from and from when it may have signed."""

    peer_did: str
    multibase: str
    source: str
    not_before: datetime | None
    recorded_at: datetime
    actor: str
    # When the key stopped being the peer's current key (seen leaving ``authentication``).
    not_after: datetime | None = None


def mark_trust_changed(conn: Connection) -> None:
    """Note that this transaction changes trust data (the generation moves at commit)."""
    conn.info[_FLAG] = True


def take_trust_changed(conn: Connection) -> bool:
    """Whether :func:`mark_trust_changed` was called on ``conn`` (and clear the mark)."""
    return bool(conn.info.pop(_FLAG, False))


def bump_generation(conn: Connection) -> None:
    """Move the generation on (called by the database layer just before commit)."""
    conn.execute(
        update(trust_generation)
        .where(trust_generation.c.id == 1)
        .values(value=trust_generation.c.value + 1)
    )


def read_generation(conn: Connection) -> int:
    """The current generation (0 on a database without the row)."""
    value = conn.execute(
        select(trust_generation.c.value).where(trust_generation.c.id == 1)
    ).scalar()
    return int(value or 0)


def generation_sql(dialect: Dialect) -> str:
    """:func:`read_generation`'s query as SQL text, for :meth:`Database.read_value`."""
    statement = select(trust_generation.c.value).where(trust_generation.c.id == 1)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def record_peer_key(
    conn: Connection,
    *,
    peer_did: str,
    multibase: str,
    source: str,
    not_before: datetime | None,
    now: datetime,
    actor: str,
) -> bool:
    """Record a peer key unless it is recorded already (the first record stands).

    Returns:
        True when the key was new.
    """
    exists = conn.execute(
        select(peer_key_records.c.multibase).where(
            (peer_key_records.c.peer_did == peer_did) & (peer_key_records.c.multibase == multibase)
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        peer_key_records.insert().values(
            peer_did=peer_did,
            multibase=multibase,
            source=source,
            not_before=not_before,
            recorded_at=now,
            actor=actor,
        )
    )
    mark_trust_changed(conn)
    return True


def end_peer_key(conn: Connection, *, peer_did: str, multibase: str, at: datetime) -> bool:
    """Record when a peer key stopped being current, unless an end is recorded already.

    Returns:
        True when the end was recorded now.
    """
    result = conn.execute(
        update(peer_key_records)
        .where(
            (peer_key_records.c.peer_did == peer_did)
            & (peer_key_records.c.multibase == multibase)
            & peer_key_records.c.not_after.is_(None)
        )
        .values(not_after=at)
    )
    if result.rowcount:
        mark_trust_changed(conn)
    return bool(result.rowcount)


def _record(row: Any) -> PeerKeyRecord:
    m = row._mapping
    return PeerKeyRecord(
        peer_did=m["peer_did"],
        multibase=m["multibase"],
        source=m["source"],
        not_before=m["not_before"],
        recorded_at=m["recorded_at"],
        actor=m["actor"],
        not_after=m["not_after"],
    )


def list_peer_key_records(conn: Connection, peer_did: str | None = None) -> list[PeerKeyRecord]:
    """Every peer key record (of one peer when ``peer_did`` is given)."""
    query = select(peer_key_records).order_by(
        peer_key_records.c.peer_did, peer_key_records.c.recorded_at
    )
    if peer_did is not None:
        query = query.where(peer_key_records.c.peer_did == peer_did)
    return [_record(r) for r in conn.execute(query)]
