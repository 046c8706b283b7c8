"""Presentation challenges: single-use, bound to one consignment at one port.

A port node issues a challenge for a consignment (WCO UCR) at a port (UN/LOCODE); a trader's
presentation signs it, and the node spends it with one conditional UPDATE (unused and not
expired), so that of several replicas racing on one challenge exactly one wins.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "presentation_challenges",
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("consignment", sa.String(length=35), nullable=False),
        sa.Column("port", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_presentation_challenges")),
    )
    op.create_index(
        "ix_presentation_challenges_expires_at",
        "presentation_challenges",
        ["expires_at"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_presentation_challenges_expires_at", table_name="presentation_challenges")
    op.drop_table("presentation_challenges")
