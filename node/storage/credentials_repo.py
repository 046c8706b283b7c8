"""Issued credentials, stored exactly as signed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from node.storage.driver import DriverStatement
from node.storage.records import CredentialRecord
from node.storage.schema import credentials

__all__ = [
    "get_credential",
    "insert_credential",
    "insert_credentials",
    "live_credential_ids",
    "replace_document",
]

# Built once (issuance runs them for every credential; building costs more than running).
# The insert runs on the driver's cursor (node.storage.driver).
_INSERT = DriverStatement(
    credentials.insert(),
    columns=("id", "types", "subject_id", "issued_at", "valid_until", "document"),
)
_GET = select(credentials).where(credentials.c.id == bindparam("credential_id"))


def insert_credential(
    conn: Connection,
    *,
    credential_id: str,
    types: tuple[str, ...],
    subject_id: str | None,
    issued_at: datetime,
    valid_until: datetime | None,
    document: str,
) -> None:
    """Store a newly issued credential (the id must be new)."""
    _INSERT.rowcount(
        conn,
        {
            "id": credential_id,
            "types": " ".join(types),
            "subject_id": subject_id,
            "issued_at": issued_at,
            "valid_until": valid_until,
            "document": document,
        },
    )


def insert_credentials(conn: Connection, records: Sequence[CredentialRecord]) -> None:
    """Store newly issued credentials in one multi-row insert (every id must be new)."""
    if not records:
        return
    _INSERT.many(
        conn,
        [
            {
                "id": r.id,
                "types": " ".join(r.types),
                "subject_id": r.subject_id,
                "issued_at": r.issued_at,
                "valid_until": r.valid_until,
                "document": r.document,
            }
            for r in records
        ],
    )


def get_credential(conn: Connection, credential_id: str) -> CredentialRecord | None:
    """Return the stored credential, or None."""
    row = conn.execute(_GET, {"credential_id": credential_id}).first()
    if row is None:
        return None
    m = row._mapping
    return CredentialRecord(
        id=m["id"],
        types=tuple(m["types"].split()),
        subject_id=m["subject_id"],
        issued_at=m["issued_at"],
        valid_until=m["valid_until"],
        document=m["document"],
    )


def live_credential_ids(conn: Connection, now: datetime) -> list[str]:
    """Ids of stored credentials not yet expired at ``now``."""
    query = select(credentials.c.id).where(
        credentials.c.valid_until.is_(None) | (credentials.c.valid_until > now)
    )
    return [r.id for r in conn.execute(query.order_by(credentials.c.id))]


def replace_document(conn: Connection, credential_id: str, document: str) -> None:
    """Replace a stored credential's document (re-issued with another key: same id)."""
    conn.execute(
        update(credentials).where(credentials.c.id == credential_id).values(document=document)
    )
