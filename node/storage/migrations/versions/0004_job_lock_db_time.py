"""Job locks in database time: drop the locks earlier versions wrote with a worker's clock.

``job_locks.locked_until`` is now computed by the database (``clock_timestamp()`` on
PostgreSQL, ``strftime('%Y-%m-%d %H:%M:%f', 'now')`` on SQLite) and compared with the
database's clock only. A row written before held a worker's clock and could lie hours ahead;
the rows are dropped so that every lock in the table is in database time. A lock only says
"a sync ran this interval", so the worst case is one extra sync round after the upgrade. The
table's shape does not change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.execute(sa.text("DELETE FROM job_locks"))


def downgrade() -> None:
    """Revert this revision (nothing to restore: the locks are retaken at the next sync)."""
