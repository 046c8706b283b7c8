"""A counter of the entries allocated in each status list.

Allocation used to count a list's entries on every issuance to know whether the list was
full (half its size): the count grew with the list, so issuance slowed down as a list
filled (189 issuances/s at 60,000 entries, against about 1,200 on an empty list). Now each
allocation moves ``status_lists.used`` in the transaction that inserts the entries, and
reads it instead. Existing lists start at the count of their entries.

A node older than this revision, during a rolling upgrade, still counts and does not move
the counter: the open list then fills past half by the entries it allocated meanwhile (a
free random index is still found at once), and the lists opened after it are exact.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Plain ALTER TABLE, not a batch copy: on SQLite a copy of status_lists would drop the
    # table that status_entries, status_list_heads and status_list_versions reference.
    op.add_column(
        "status_lists", sa.Column("used", sa.Integer(), nullable=False, server_default="0")
    )
    lists = sa.table("status_lists", sa.column("id", sa.String()), sa.column("used", sa.Integer()))
    entries = sa.table("status_entries", sa.column("list_id", sa.String()))
    op.execute(
        lists.update().values(
            used=sa.select(sa.func.count())
            .select_from(entries)
            .where(entries.c.list_id == lists.c.id)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    """Revert this revision (revision 0015 counts the entries instead)."""
    # SQLite 3.35 and later drop a column in place (no table copy, see upgrade()).
    op.drop_column("status_lists", "used")
