"""Transparency log: an RFC 9162 Merkle tree of everything the node signs.

``log_head`` is the single row appenders lock; ``log_entries`` holds each leaf's input;
``log_hashes`` every complete aligned subtree hash under one integer key, level * 2**56 + index
(proofs and C2SP tiles are read from it);
``log_checkpoints`` the signed checkpoints with the cosignatures gathered for them. Documents
signed before this revision are not in the log (a log starts when it starts, as CT logs do).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:00:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    # The one head row exists from the start: the first appenders of two replicas lock it
    # like any later ones (creating it on first use let both insert it).
    op.bulk_insert(head, [{"id": 1, "size": 0, "root": hashlib.sha256(b"").digest()}])
    op.create_table(
        "log_entries",
        sa.Column("idx", _big(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("document_id", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_entries")),
    )
    op.create_index("ix_log_entries_document_id", "log_entries", ["document_id"])
    op.create_table(
        "log_hashes",
        sa.Column("key", _big(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_log_hashes")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", _big(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoints")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("log_checkpoints")
    op.drop_table("log_hashes")
    op.drop_index("ix_log_entries_document_id", table_name="log_entries")
    op.drop_table("log_entries")
    op.drop_table("log_head")
