"""API tokens, stored as SHA-256 hashes only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from node.storage.records import TokenRecord
from node.storage.schema import tokens

__all__ = ["find_by_hash", "insert_token", "list_tokens", "revoke_token"]


def _record(row: Row[Any]) -> TokenRecord:
    m = row._mapping
    return TokenRecord(
        id=m["id"],
        name=m["name"],
        scopes=frozenset(m["scopes"].split()),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def insert_token(
    conn: Connection,
    *,
    token_id: str,
    name: str,
    scopes: frozenset[str],
    token_hash: str,
    created_at: datetime,
) -> None:
    """Store a new token's hash."""
    conn.execute(
        tokens.insert().values(
            id=token_id,
            name=name,
            scopes=" ".join(sorted(scopes)),
            token_hash=token_hash,
            created_at=created_at,
        )
    )


def find_by_hash(conn: Connection, token_hash: str) -> tuple[TokenRecord, str] | None:
    """The token with this hash and the stored hash (for a constant-time re-check)."""
    row = conn.execute(select(tokens).where(tokens.c.token_hash == token_hash)).first()
    return None if row is None else (_record(row), row._mapping["token_hash"])


def revoke_token(conn: Connection, token_id: str, at: datetime) -> bool:
    """Revoke a token; False when there is no such active token."""
    result = conn.execute(
        update(tokens)
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return result.rowcount == 1


def list_tokens(conn: Connection) -> list[TokenRecord]:
    """Every token, oldest first."""
    return [_record(r) for r in conn.execute(select(tokens).order_by(tokens.c.created_at))]
