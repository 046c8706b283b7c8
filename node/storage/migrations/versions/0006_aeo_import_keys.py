"""AEO register import: the trader key of every credential an import issued.

``trustlane aeo import`` keys each row by the trader's first identifier (``EORI:DE...``);
this table maps the key to the credential issued for it and a fingerprint of the row, so a
re-run skips what it already issued and reports rows that changed since.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "aeo_import_keys",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("credential_id", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_aeo_import_keys_credential_id_credentials"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_aeo_import_keys")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("aeo_import_keys")
