"""Fail-closed trust: trust generation, peer key records, the node's own MRA signatures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    generation = op.create_table(
        "trust_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 1}])
    op.create_table(
        "peer_key_records",
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("multibase", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_did"], ["peers.did"], name=op.f("fk_peer_key_records_peer_did_peers")
        ),
        sa.PrimaryKeyConstraint("peer_did", "multibase", name=op.f("pk_peer_key_records")),
    )
    # Keys pinned before this revision were pinned out of band: record them as pins.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT did, pinned_keys, added_at FROM peers")).fetchall()
    records = sa.table(
        "peer_key_records",
        sa.column("peer_did", sa.String),
        sa.column("multibase", sa.String),
        sa.column("source", sa.String),
        sa.column("not_before", sa.DateTime(timezone=True)),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
    )
    backfill = [
        {
            "peer_did": did,
            "multibase": key,
            "source": "pin",
            "not_before": None,
            "recorded_at": added_at,
            "actor": "migration-0003",
        }
        for did, pinned, added_at in rows
        for key in sorted(set((pinned or "").split()))
    ]
    if backfill:
        op.bulk_insert(records, backfill)
    with op.batch_alter_table("mras") as batch:
        batch.add_column(sa.Column("own_proof_value", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("mras") as batch:
        batch.drop_column("own_proof_value")
    op.drop_table("peer_key_records")
    op.drop_table("trust_generation")
