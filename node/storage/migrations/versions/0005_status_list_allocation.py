"""Status list allocation: one head row per purpose naming its open list.

Writers open a new status list only under this row's lock, so concurrent writers (workers,
replicas) share one open list per purpose. The rows of both purposes are created here, from
the lists that exist: the open list is the one with the highest number.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PURPOSES = ("revocation", "suspension")


def upgrade() -> None:
    """Apply this revision."""
    heads = op.create_table(
        "status_list_heads",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("list_id", sa.String(length=64), nullable=True),
        sa.Column("lists_opened", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["status_lists.id"], name=op.f("fk_status_list_heads_list_id_status_lists")
        ),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_status_list_heads")),
    )
    # Lists are named "<purpose>-<n>"; the newest (highest n) is the open one.
    newest: dict[str, tuple[int, str]] = {}
    for list_id, purpose in op.get_bind().execute(sa.text("SELECT id, purpose FROM status_lists")):
        found = re.fullmatch(re.escape(purpose) + r"-([0-9]+)", list_id)
        if found is not None:
            candidate = (int(found.group(1)), list_id)
            newest[purpose] = max(newest.get(purpose, candidate), candidate)
    rows = []
    for purpose in sorted(set(PURPOSES) | set(newest)):
        number, list_id = newest.get(purpose, (0, None))
        rows.append({"purpose": purpose, "list_id": list_id, "lists_opened": number})
    op.bulk_insert(heads, rows)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("status_list_heads")
