"""Read-only queries behind readiness (``GET /health``): schema revision, job lock, clock."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, String, func, select

from node.storage.schema import job_locks

__all__ = ["current_revisions", "database_now", "head_revisions", "job_lock_until"]

_MIGRATIONS = Path(__file__).parent / "migrations"


@functools.cache
def head_revisions() -> frozenset[str]:
    """The Alembic head revision(s) of the migrations shipped with this code (read once)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_revisions(conn: Connection) -> frozenset[str]:
    """The revision(s) the database is at (empty when it was never migrated)."""
    return frozenset(MigrationContext.configure(connection=conn).get_current_heads())


def database_now(conn: Connection) -> datetime:
    """The database server's current time, aware UTC (job locks are taken in this time)."""
    if conn.dialect.name == "sqlite":
        raw = conn.execute(
            select(func.strftime("%Y-%m-%d %H:%M:%f", "now", type_=String()))
        ).scalar_one()
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    value: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
    return value.astimezone(UTC)


def job_lock_until(conn: Connection, name: str) -> datetime | None:
    """Until when the named job lock was last taken (None: the job never ran here)."""
    until: datetime | None = conn.execute(
        select(job_locks.c.locked_until).where(job_locks.c.name == name)
    ).scalar_one_or_none()
    return until
