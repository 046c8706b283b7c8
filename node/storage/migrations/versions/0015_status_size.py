"""Multi-bit status lists: a status size per list and a status value per entry.

A list's entries are ``status_size`` bits each (``statusSize``): 1 for every list opened
before this revision, 2 for the suspension lists whose value carries the reason code. An
entry keeps its whole value in ``status_value``; ``value`` stays ``status_value != 0``, so
whatever reads it (the console, offers) reads "suspended" whatever the reason. Existing
entries get 1 where their bit is set.

``sync_health.resource`` grows from 64 to 620 characters ("status_list:" and a list URL).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 20:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ALTER TABLE, not a batch copy: on SQLite a copy of status_lists would drop the
    # table that status_entries, status_list_heads and status_list_versions reference.
    op.add_column(
        "status_lists", sa.Column("status_size", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "status_entries",
        sa.Column("status_value", sa.Integer(), nullable=False, server_default="0"),
    )
    entries = sa.table(
        "status_entries", sa.column("value", sa.Boolean()), sa.column("status_value", sa.Integer())
    )
    op.execute(entries.update().where(entries.c.value.is_(True)).values(status_value=1))
    # A sync health resource is "status_list:" + the list URL, up to 600 characters: 64 was
    # too short for the URL of any list whose base URL is longer than about 40 characters
    # (recording the sync then failed). Nothing references sync_health, so on SQLite the
    # batch copy of the table is safe.
    with op.batch_alter_table("sync_health") as batch:
        batch.alter_column(
            "resource",
            existing_type=sa.String(length=64),
            type_=sa.String(length=620),
            existing_nullable=False,
        )


def downgrade() -> None:
    """Revert this revision (refused while a multi-bit list exists: its bits would be misread)."""
    multi_bit = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM status_lists WHERE status_size <> 1"))
        .scalar_one()
    )
    if multi_bit:
        raise RuntimeError(
            f"{multi_bit} status lists have entries of more than one bit; revision 0014 "
            "cannot publish them"
        )
    # Longer resources are dropped, not cut: sync rebuilds them on its next run.
    op.execute(sa.text("DELETE FROM sync_health WHERE length(resource) > 64"))
    with op.batch_alter_table("sync_health") as batch:
        batch.alter_column(
            "resource",
            existing_type=sa.String(length=620),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    # SQLite 3.35 and later drop a column in place (no table copy, see upgrade()).
    op.drop_column("status_entries", "status_value")
    op.drop_column("status_lists", "status_size")
