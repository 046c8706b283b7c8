"""Credential offers (OpenID4VCI pre-authorised code flow) and their single-use nonces.

An issuer offers one AEO credential to a trader: the pre-authorised code, the transaction
code and the access token it buys are stored as SHA-256 hashes only; redeeming the code and
spending the access token are each one conditional UPDATE. ``c_nonce`` values from the nonce
endpoint are spent once the same way.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "credential_offers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("tx_code_hash", sa.String(length=64), nullable=False),
        sa.Column("trader", sa.String(length=200), nullable=False),
        sa.Column("source_credential_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("tx_attempts", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_token_hash", sa.String(length=64), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credential_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_offers")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_credential_offers_code_hash")),
        sa.UniqueConstraint(
            "access_token_hash", name=op.f("uq_credential_offers_access_token_hash")
        ),
    )
    op.create_index("ix_credential_offers_expires_at", "credential_offers", ["expires_at"])
    op.create_table(
        "credential_nonces",
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_credential_nonces")),
    )
    op.create_index("ix_credential_nonces_expires_at", "credential_nonces", ["expires_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_credential_nonces_expires_at", table_name="credential_nonces")
    op.drop_table("credential_nonces")
    op.drop_index("ix_credential_offers_expires_at", table_name="credential_offers")
    op.drop_table("credential_offers")
