"""Read-only queries behind the console's plots page (status list propagation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from node.storage.schema import peer_status_lists

__all__ = ["StatusListFetch", "status_list_fetches"]


@dataclass(frozen=True)
class StatusListFetch:
    """One version of a partner's status list, and when this node first fetched it."""

    peer_did: str
    url: str
    valid_from: datetime
    first_fetched_at: datetime


def status_list_fetches(conn: Connection, *, limit: int) -> list[StatusListFetch]:
    """The ``limit`` most recently first-fetched status list versions, newest first."""
    table = peer_status_lists.c
    query = (
        select(table.peer_did, table.url, table.valid_from, table.first_fetched_at)
        .order_by(table.first_fetched_at.desc(), table.url)
        .limit(limit)
    )
    return [
        StatusListFetch(r.peer_did, r.url, r.valid_from, r.first_fetched_at)
        for r in conn.execute(query)
    ]
