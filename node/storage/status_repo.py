"""Status lists: entries' values, the lists, and their published versions.

Entries are allocated by :mod:`node.storage.status_alloc_repo` (a random free index in the
purpose's open list, one open list per purpose shared by every writer). Here: reading and
changing an entry's value, the bits of a list, and the signed versions published of it.
Rows are never deleted: an index is never reused. A list's entries are ``status_size`` bits
each (migration 0015); each entry keeps its whole value (``status_value``) and whether it is
not 0 (``value``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select, update
from sqlalchemy.exc import NoResultFound

from node.storage.driver import DriverStatement
from node.storage.records import StatusEntryRecord, StatusListVersionRecord
from node.storage.schema import (
    status_entries,
    status_list_versions,
    status_lists,
)
from node.storage.trust_repo import mark_trust_changed

__all__ = [
    "entries_for_credential",
    "get_list",
    "get_status_size",
    "insert_version",
    "latest_version",
    "latest_versions",
    "list_ids",
    "lock_list",
    "set_bits",
    "set_entry_status",
    "set_entry_value",
    "set_values",
    "version_at",
]

# Locks a list's row (publication; allocation too, for a list never published). On the
# driver's cursor (node.storage.driver).
_LOCK_LIST = DriverStatement(
    select(status_lists.c.latest_version)
    .where(status_lists.c.id == bindparam("list_id"))
    .with_for_update()
)


def entries_for_credential(conn: Connection, credential_id: str) -> list[StatusEntryRecord]:
    """The status entries of one credential."""
    rows = conn.execute(
        select(status_entries, status_lists.c.purpose, status_lists.c.status_size)
        .join(status_lists, status_lists.c.id == status_entries.c.list_id)
        .where(status_entries.c.credential_id == credential_id)
        .order_by(status_lists.c.purpose)
    )
    return [
        StatusEntryRecord(
            list_id=r.list_id,
            purpose=r.purpose,
            idx=r.idx,
            credential_id=r.credential_id,
            value=bool(r.value),
            updated_at=r.updated_at,
            status_value=_whole_value(bool(r.value), r.status_value),
            status_size=r.status_size,
        )
        for r in rows
    ]


def _whole_value(value: bool, status_value: int) -> int:
    # A bit set by a node older than migration 0015 (rolling upgrade) left status_value 0:
    # the entry is still not 0.
    return status_value if status_value or not value else 1


def set_entry_status(
    conn: Connection, list_id: str, idx: int, status_value: int, now: datetime
) -> bool:
    """Set one entry's whole status value; True when the stored value changed."""
    value = status_value != 0
    result = conn.execute(
        update(status_entries)
        .where(
            status_entries.c.list_id == list_id,
            status_entries.c.idx == idx,
            (status_entries.c.status_value != status_value) | status_entries.c.value.is_not(value),
        )
        .values(value=value, status_value=status_value, updated_at=now)
    )
    return result.rowcount == 1


def set_entry_value(conn: Connection, list_id: str, idx: int, value: bool, now: datetime) -> bool:
    """Set one bit (status value 1 or 0); True when the stored value changed."""
    return set_entry_status(conn, list_id, idx, int(value), now)


def set_bits(conn: Connection, list_id: str) -> list[int]:
    """Indexes whose bit is set in ``list_id``."""
    rows = conn.execute(
        select(status_entries.c.idx).where(
            status_entries.c.list_id == list_id, status_entries.c.value.is_(True)
        )
    )
    return [r.idx for r in rows]


def set_values(conn: Connection, list_id: str) -> list[tuple[int, int]]:
    """``(index, status value)`` of every entry of ``list_id`` whose status is not 0."""
    rows = conn.execute(
        select(status_entries.c.idx, status_entries.c.status_value).where(
            status_entries.c.list_id == list_id, status_entries.c.value.is_(True)
        )
    )
    return [(r.idx, _whole_value(True, r.status_value)) for r in rows]


def get_status_size(conn: Connection, list_id: str) -> int:
    """The entry size in bits of a list (1 for a list that does not exist)."""
    found = conn.execute(
        select(status_lists.c.status_size).where(status_lists.c.id == list_id)
    ).scalar_one_or_none()
    return 1 if found is None else int(found)


def get_list(conn: Connection, list_id: str) -> tuple[str, int, int] | None:
    """``(purpose, size, latest_version)`` of a list, or None."""
    row = conn.execute(
        select(status_lists.c.purpose, status_lists.c.size, status_lists.c.latest_version).where(
            status_lists.c.id == list_id
        )
    ).first()
    return None if row is None else (row.purpose, row.size, row.latest_version)


def list_ids(conn: Connection) -> list[str]:
    """Every status list id."""
    return [r.id for r in conn.execute(select(status_lists.c.id).order_by(status_lists.c.id))]


def lock_list(conn: Connection, list_id: str) -> int:
    """Lock the list row until the transaction ends; return its latest version number.

    On PostgreSQL this is ``SELECT ... FOR UPDATE``; on SQLite the write transaction already
    holds the database's write lock.
    """
    found = _LOCK_LIST.first(conn, {"list_id": list_id})
    if found is None:
        raise NoResultFound(f"no status list {list_id!r}")
    return int(found[0])


def insert_version(conn: Connection, record: StatusListVersionRecord) -> None:
    """Store a newly published version and make it the latest (call after lock_list)."""
    mark_trust_changed(conn)
    conn.execute(
        status_list_versions.insert().values(
            list_id=record.list_id,
            version=record.version,
            published_at=record.published_at,
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            etag=record.etag,
            document=record.document,
        )
    )
    conn.execute(
        update(status_lists)
        .where(status_lists.c.id == record.list_id)
        .values(latest_version=record.version)
    )


def _version(row: Row[Any]) -> StatusListVersionRecord:
    m = row._mapping
    return StatusListVersionRecord(
        list_id=m["list_id"],
        version=m["version"],
        published_at=m["published_at"],
        valid_from=m["valid_from"],
        valid_until=m["valid_until"],
        etag=m["etag"],
        document=m["document"],
    )


def latest_version(conn: Connection, list_id: str) -> StatusListVersionRecord | None:
    """The newest published version of a list, or None."""
    row = conn.execute(
        select(status_list_versions)
        .where(status_list_versions.c.list_id == list_id)
        .order_by(status_list_versions.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else _version(row)


def version_at(conn: Connection, list_id: str, at: datetime) -> StatusListVersionRecord | None:
    """The version that was the latest at ``at`` (published at or before it), or None."""
    row = conn.execute(
        select(status_list_versions)
        .where(status_list_versions.c.list_id == list_id, status_list_versions.c.published_at <= at)
        .order_by(status_list_versions.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else _version(row)


def _latest_versions_statement() -> Select[Any]:
    newest = (
        select(
            status_list_versions.c.list_id,
            func.max(status_list_versions.c.version).label("version"),
        )
        .where(status_list_versions.c.list_id.in_(bindparam("ids", expanding=True)))
        .group_by(status_list_versions.c.list_id)
        .subquery()
    )
    return select(status_list_versions).join(
        newest,
        (newest.c.list_id == status_list_versions.c.list_id)
        & (newest.c.version == status_list_versions.c.version),
    )


# Built once: constructing this statement costs more than running it (verification hot path).
_LATEST_VERSIONS = _latest_versions_statement()


def latest_versions(conn: Connection, list_ids: list[str]) -> dict[str, StatusListVersionRecord]:
    """The newest published version of each of ``list_ids`` (lists without one are absent)."""
    rows = conn.execute(_LATEST_VERSIONS, {"ids": list_ids})
    return {r.list_id: _version(r) for r in rows}
