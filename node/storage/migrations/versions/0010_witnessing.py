"""Witnessing: partners' log heads this node cosigned, its own witnesses, split-view alerts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "witness_heads",
        sa.Column("origin", sa.String(length=400), nullable=False),
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_witness_heads")),
    )
    op.create_table(
        "log_witnesses",
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("peer_did", name=op.f("pk_log_witnesses")),
    )
    op.create_table(
        "split_view_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=400), nullable=False),
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("known_checkpoint", sa.Text(), nullable=False),
        sa.Column("conflicting_checkpoint", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_split_view_alerts")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("split_view_alerts")
    op.drop_table("log_witnesses")
    op.drop_table("witness_heads")
