"""Devices: scanners and radiation portal monitors the node authorised to attest scans.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "devices",
        sa.Column("did", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("modalities", sa.String(length=100), nullable=False),
        sa.Column("site", sa.String(length=5), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("authorization_id", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calibration_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["credentials.id"],
            name=op.f("fk_devices_authorization_id_credentials"),
        ),
        sa.PrimaryKeyConstraint("did", name=op.f("pk_devices")),
        sa.UniqueConstraint("name", name=op.f("uq_devices_name")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("devices")
