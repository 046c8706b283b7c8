"""Database engine, transactions and migrations for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing when a read lock cannot be upgraded. PostgreSQL uses row locks (``FOR UPDATE``) where
the repositories need to serialise writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from credentials.errors import MalformedInputError, TrustlaneError
from node.storage.trust_repo import bump_generation, take_trust_changed

__all__ = ["Database", "StorageConflictError", "StorageError", "UnstorableValueError"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class StorageError(TrustlaneError):
    """The database failed or is unreachable (not the caller's fault)."""

    code = "STORAGE_ERROR"


class StorageConflictError(StorageError):
    """A uniqueness constraint refused a write (a concurrent writer got there first)."""

    code = "CONFLICT"


class UnstorableValueError(MalformedInputError):
    """A value the database cannot store (e.g. NUL characters on PostgreSQL)."""

    code = "INVALID_VALUE"


def _translate(e: SQLAlchemyError, what: str) -> TrustlaneError:
    if isinstance(e, IntegrityError):
        return StorageConflictError(f"{what} refused by a uniqueness constraint")
    if isinstance(e, DataError):
        return UnstorableValueError("a value cannot be stored or looked up (invalid characters?)")
    return StorageError(f"{what} failed: {type(e).__name__}")


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("trustlane_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One engine and its transactions.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/trustlane/node.db`` or
            ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine = create_engine(url, connect_args={"timeout": 30})
                _sqlite_setup(self.engine)
            else:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StorageError(f"cannot use database URL: {type(e).__name__}") from e

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(trustlane_write=True)
                take_trust_changed(conn)  # a mark left on a pooled connection is stale
                with conn.begin():
                    yield conn
                    if take_trust_changed(conn):
                        # Last statement of the transaction: see node.storage.trust_repo.
                        bump_generation(conn)
        except SQLAlchemyError as e:
            raise _translate(e, "database write") from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never blocks other readers on SQLite)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(trustlane_write=False)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as e:
            raise _translate(e, "database read") from e

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.connect() as conn:
                conn.execution_options(trustlane_write=True)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
        except SQLAlchemyError as e:
            raise StorageError(f"database migration failed: {e}") from e

    def dispose(self) -> None:
        """Close pooled connections (before fork, and at shutdown)."""
        self.engine.dispose()
