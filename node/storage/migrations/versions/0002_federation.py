"""Federation: peers, peer DID documents and status lists, MRAs, sync health, locks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:20:40.208288
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "event_nonces",
        sa.Column("key_id", sa.String(length=600), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_event_nonces")),
    )
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )
    op.create_table(
        "mras",
        sa.Column("id", sa.String(length=400), nullable=False),
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("termination_notice", sa.Text(), nullable=True),
        sa.Column("termination_effective", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mras")),
    )
    op.create_table(
        "peers",
        sa.Column("did", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.String(length=400), nullable=False),
        sa.Column("ca_bundle", sa.String(length=1000), nullable=True),
        sa.Column("pinned_keys", sa.Text(), nullable=False),
        sa.Column("repinned_keys", sa.Text(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("untrusted_reason", sa.Text(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("did", name=op.f("pk_peers")),
        sa.UniqueConstraint("name", name=op.f("uq_peers_name")),
    )
    op.create_table(
        "sync_health",
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("last_success", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("peer_did", "resource", name=op.f("pk_sync_health")),
    )
    op.create_table(
        "peer_did_documents",
        sa.Column("did", sa.String(length=400), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["did"], ["peers.did"], name=op.f("fk_peer_did_documents_did_peers")
        ),
        sa.PrimaryKeyConstraint("did", name=op.f("pk_peer_did_documents")),
    )
    op.create_table(
        "peer_status_lists",
        sa.Column("url", sa.String(length=600), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("first_fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_did"], ["peers.did"], name=op.f("fk_peer_status_lists_peer_did_peers")
        ),
        sa.PrimaryKeyConstraint("url", "valid_from", name=op.f("pk_peer_status_lists")),
    )
    with op.batch_alter_table("peer_status_lists", schema=None) as batch_op:
        batch_op.create_index(
            "ix_peer_status_lists_url_confirmed", ["url", "confirmed_at"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("peer_status_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_peer_status_lists_url_confirmed")

    op.drop_table("peer_status_lists")
    op.drop_table("peer_did_documents")
    op.drop_table("sync_health")
    op.drop_table("peers")
    op.drop_table("mras")
    op.drop_table("job_locks")
    op.drop_table("event_nonces")
