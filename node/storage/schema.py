"""The node's tables (SQLAlchemy Core). Alembic migrations create them; see migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "UTCDateTime",
    "audit_events",
    "audit_head",
    "credentials",
    "metadata",
    "node_keys",
    "status_entries",
    "status_list_versions",
    "status_lists",
    "tokens",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text; we add UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Refuse naive values; store UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"unexpected database value {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The node's own signing keys (public part and lifecycle; private parts live in the key store).
node_keys = Table(
    "node_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("public_key_multibase", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime()),
    Column("compromised_since", UTCDateTime()),
    Column("is_current", Boolean, nullable=False, default=False),
)

# Every credential the node issued, as signed.
credentials = Table(
    "credentials",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("types", String(400), nullable=False),
    Column("subject_id", String(400)),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime()),
    Column("document", Text, nullable=False),
)

status_lists = Table(
    "status_lists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Bumped under a row lock by each publication: serialises publishers across workers.
    Column("latest_version", Integer, nullable=False, default=0),
)

# One row per allocated index; the primary key makes allocation unique under concurrency,
# and rows are never deleted, so an index is never reused.
status_entries = Table(
    "status_entries",
    metadata,
    Column("list_id", String(64), ForeignKey("status_lists.id"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    # No foreign key: indexes are allocated before the credential (which embeds them) exists.
    Column("credential_id", String(200), nullable=False),
    Column("value", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_status_entries_credential", "credential_id"),
)

# Every published, signed status list credential (kept for "status at time T").
status_list_versions = Table(
    "status_list_versions",
    metadata,
    Column("list_id", String(64), ForeignKey("status_lists.id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
    Column("etag", String(80), nullable=False),
    Column("document", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scopes", String(400), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

# Append-only, hash-chained audit log.
audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(400), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# A single row naming the chain's head; appenders lock it, which serialises appends.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
)
