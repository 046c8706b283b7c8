"""The ``identifier_links`` table: the administration's identifier crosswalk.

A link joins two identifiers ``(scheme, value)`` of one trader. It is stored once, its ends
in sorted order, so that a link and its reverse are the same row (the unique key refuses the
second).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select

from node.storage.schema import identifier_links

__all__ = ["LinkRecord", "find_link", "insert_link", "links_touching", "list_links", "ordered"]

Identifier = tuple[str, str]


@dataclass(frozen=True)
class LinkRecord:
    """One stored link."""

    seq: int
    a: Identifier
    b: Identifier
    note: str | None
    created_at: datetime
    created_by: str


def ordered(first: Identifier, second: Identifier) -> tuple[Identifier, Identifier]:
    """The two ends in the order they are stored."""
    return (first, second) if first <= second else (second, first)


def _record(row: Row[Any]) -> LinkRecord:
    m = row._mapping
    return LinkRecord(
        seq=m["seq"],
        a=(m["scheme_a"], m["value_a"]),
        b=(m["scheme_b"], m["value_b"]),
        note=m["note"],
        created_at=m["created_at"],
        created_by=m["created_by"],
    )


def insert_link(
    conn: Connection,
    first: Identifier,
    second: Identifier,
    *,
    note: str | None,
    now: datetime,
    actor: str,
) -> LinkRecord:
    """Store a link (the unique key refuses one already stored, in either order)."""
    a, b = ordered(first, second)
    conn.execute(
        identifier_links.insert().values(
            scheme_a=a[0],
            value_a=a[1],
            scheme_b=b[0],
            value_b=b[1],
            note=note,
            created_at=now,
            created_by=actor,
        )
    )
    found = find_link(conn, a, b)
    assert found is not None  # noqa: S101 - inserted just above, in this transaction
    return found


def find_link(conn: Connection, first: Identifier, second: Identifier) -> LinkRecord | None:
    """The stored link between two identifiers (either order), or None."""
    a, b = ordered(first, second)
    c = identifier_links.c
    row = conn.execute(
        select(identifier_links).where(
            c.scheme_a == a[0], c.value_a == a[1], c.scheme_b == b[0], c.value_b == b[1]
        )
    ).first()
    return None if row is None else _record(row)


def links_touching(conn: Connection, identifiers: Iterable[Identifier]) -> list[LinkRecord]:
    """Every link with an end among ``identifiers``."""
    wanted = sorted(set(identifiers))
    if not wanted:
        return []
    c = identifier_links.c
    clauses = []
    for scheme, value in wanted:
        clauses.append(and_(c.scheme_a == scheme, c.value_a == value))
        clauses.append(and_(c.scheme_b == scheme, c.value_b == value))
    query = select(identifier_links).where(or_(*clauses)).order_by(c.seq)
    return [_record(r) for r in conn.execute(query)]


def list_links(conn: Connection, *, limit: int, after: int | None = None) -> list[LinkRecord]:
    """Up to ``limit`` links in the order they were stored, after position ``after``."""
    query = select(identifier_links).order_by(identifier_links.c.seq).limit(limit)
    if after is not None:
        query = query.where(identifier_links.c.seq > after)
    return [_record(r) for r in conn.execute(query)]
