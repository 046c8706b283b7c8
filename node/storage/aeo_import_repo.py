"""Trader keys of the credentials that ``trustlane aeo import`` issued (migration 0006)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from node.storage.schema import aeo_import_keys

__all__ = ["ImportKeyRecord", "find_keys", "insert_keys", "replace_key"]

_IN_LIMIT = 500  # values per IN (...) list


@dataclass(frozen=True)
class ImportKeyRecord:
    """The credential an import issued for a trader key, and the fingerprint of its row."""

    key: str
    credential_id: str
    fingerprint: str
    imported_at: datetime


def find_keys(conn: Connection, keys: Iterable[str]) -> dict[str, ImportKeyRecord]:
    """The records of those ``keys`` that exist."""
    wanted = sorted(set(keys))
    found: dict[str, ImportKeyRecord] = {}
    for start in range(0, len(wanted), _IN_LIMIT):
        rows = conn.execute(
            select(aeo_import_keys).where(
                aeo_import_keys.c.key.in_(wanted[start : start + _IN_LIMIT])
            )
        )
        for r in rows:
            found[r.key] = ImportKeyRecord(r.key, r.credential_id, r.fingerprint, r.imported_at)
    return found


def insert_keys(conn: Connection, records: Sequence[ImportKeyRecord]) -> None:
    """Record new keys (a key already recorded violates the primary key)."""
    if records:
        conn.execute(
            aeo_import_keys.insert(),
            [
                {
                    "key": r.key,
                    "credential_id": r.credential_id,
                    "fingerprint": r.fingerprint,
                    "imported_at": r.imported_at,
                }
                for r in records
            ],
        )


def replace_key(conn: Connection, record: ImportKeyRecord, *, previous_credential: str) -> bool:
    """Point a key at a new credential, if it still names ``previous_credential``.

    Returns:
        False when a concurrent import moved the key first.
    """
    result = conn.execute(
        update(aeo_import_keys)
        .where(
            aeo_import_keys.c.key == record.key,
            aeo_import_keys.c.credential_id == previous_credential,
        )
        .values(
            credential_id=record.credential_id,
            fingerprint=record.fingerprint,
            imported_at=record.imported_at,
        )
    )
    return result.rowcount == 1
