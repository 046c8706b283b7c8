"""Key rotation: pending keys, announcements and acknowledgements, peer recovery, key ends.

- ``key_announcements``: per new key and peer, who acknowledged the announcement, how often
  it was sent and when to send it again.
- ``peers``: why a peer is untrusted as a code, the DID document that was refused for keys
  an announcement may still vouch for, and the last recovery (for health).
- ``peer_key_records.not_after``: when a peer key stopped being the peer's current key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # A pending key (announced, not yet published) needs no column of its own: it is the one
    # key that is neither current nor retired. node_keys stays as it was, so that a node one
    # revision behind can still read its keys.
    op.create_table(
        "key_announcements",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("peer_did", sa.String(length=400), nullable=False),
        sa.Column("signer_kid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kid"], ["node_keys.kid"], name=op.f("fk_key_announcements_kid_node_keys")
        ),
        sa.PrimaryKeyConstraint("kid", "peer_did", name=op.f("pk_key_announcements")),
    )
    with op.batch_alter_table("peers") as batch:
        batch.add_column(sa.Column("untrusted_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("rejected_document", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("recovery_note", sa.Text(), nullable=True))
    with op.batch_alter_table("peer_key_records") as batch:
        batch.add_column(sa.Column("not_after", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("peer_key_records") as batch:
        batch.drop_column("not_after")
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("recovery_note")
        batch.drop_column("recovered_at")
        batch.drop_column("rejected_at")
        batch.drop_column("rejected_document")
        batch.drop_column("untrusted_code")
    op.drop_table("key_announcements")
