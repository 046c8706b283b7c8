"""Database engine, transactions and migrations for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing when a read lock cannot be upgraded. PostgreSQL uses row locks (``FOR UPDATE``) where
the repositories need to serialise writers.

Both backends refuse the same values, before any statement reaches the database (see
:mod:`node.storage.storable`), so that the same request gets the same answer on both.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from credentials.errors import TrustlaneError
from node.storage import audit_repo, log_repo
from node.storage.errors import StorageConflictError, StorageError
from node.storage.storable import UnstorableValueError, check_parameters
from node.storage.trust_repo import bump_generation, take_trust_changed

__all__ = [
    "Database",
    "StorageConflictError",
    "StorageError",
    "UnstorableValueError",
    "append_queued",
    "translate_error",
]

_MIGRATIONS = Path(__file__).parent / "migrations"


def translate_error(e: SQLAlchemyError, what: str) -> TrustlaneError:
    """The storage error a client is told for a database error (never the driver's text)."""
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


#: How long a SQLite writer waits for the other writers (the busy timeout waits as long).
WRITER_WAIT_SECONDS = 30.0
_POLL_SECONDS = (0.0002, 0.0005, 0.001, 0.002)


class _SQLiteWriters:
    """Queues a SQLite database's writers: threads on a lock, processes on a file lock.

    ``BEGIN IMMEDIATE`` alone makes a writer that finds the write lock taken retry on
    SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries: the lock
    is free long before the waiter looks again, and with two workers that both write
    (issuance), throughput stays at one worker's while both wait. Here a process's writers
    queue on a lock (handed over at once), and one writer per process polls an exclusive
    ``flock`` on ``<database>-writers`` every fraction of a millisecond. Writers that do not
    take it (another program, an older node) still queue on ``BEGIN IMMEDIATE`` as before.
    A process that dies holding the file lock loses it with its file descriptor.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._fd is None or self._pid != os.getpid():
            # After a fork the inherited descriptor shares the parent's lock: open our own.
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._fd = None  # a read-only directory: BEGIN IMMEDIATE still queues writers
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the write turn (re-entrant in one thread); StorageError after the wait."""
        if not self._threads.acquire(timeout=WRITER_WAIT_SECONDS):
            raise StorageError("database write failed: another writer held the database")
        try:
            self._depth += 1
            fd = self._file() if self._depth == 1 else None
            if fd is not None:
                _flock_within(fd, WRITER_WAIT_SECONDS)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._depth -= 1
            self._threads.release()


def _flock_within(fd: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    tries = 0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StorageError(
                    "database write failed: another writer held the database"
                ) from None
            time.sleep(_POLL_SECONDS[min(tries, len(_POLL_SECONDS) - 1)])
            tries += 1


# What a write transaction defers to its end (audit events, log entries) is kept on its
# connection; a savepoint rolled back takes what was queued after it.
# Savepoints nest (SQLAlchemy names one only after its event), so the marks are a stack.
_MARKS = "trustlane_savepoint_marks"


def _savepoint(conn: Connection, _name: str | None) -> None:
    marks = (audit_repo.queued_count(conn), log_repo.queued_count(conn))
    conn.info.setdefault(_MARKS, []).append(marks)


def _rollback_savepoint(conn: Connection, _name: str, _context: object) -> None:
    stack = conn.info.get(_MARKS)
    if stack:
        audit, log = stack.pop()
        audit_repo.drop_queued(conn, audit)
        log_repo.drop_queued(conn, log)


def _release_savepoint(conn: Connection, _name: str, _context: object) -> None:
    stack = conn.info.get(_MARKS)
    if stack:
        stack.pop()


def append_queued(conn: Connection) -> list[int]:
    """Append what the write transaction queued: its audit events, then its log entries.

    :meth:`Database.write` calls this as the transaction's last statements (only the trust
    generation bump follows); code that needs its log indexes before then (scan
    attestations) calls it itself, at the end of its transaction. Either way the audit head
    lock is taken before the log head lock, in every transaction, and both are held only
    until the commit.

    Returns:
        The log indexes of the entries, in queue order.
    """
    audit_repo.append_queued(conn)
    return log_repo.append_queued(conn)


class Database:
    """One engine and its transactions.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/trustlane/node.db`` or
            ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._writers: _SQLiteWriters | None = None
        try:
            if url.startswith("sqlite"):
                self.engine = create_engine(url, connect_args={"timeout": 30})
                _sqlite_setup(self.engine)
                database = self.engine.url.database
                if database and database != ":memory:" and not database.startswith("file:"):
                    self._writers = _SQLiteWriters(Path(f"{database}-writers"))
            else:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StorageError(f"cannot use database URL: {type(e).__name__}") from e
        event.listen(self.engine, "before_cursor_execute", check_parameters)
        event.listen(self.engine, "savepoint", _savepoint)
        event.listen(self.engine, "rollback_savepoint", _rollback_savepoint)
        event.listen(self.engine, "release_savepoint", _release_savepoint)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        if self._writers is not None:
            with self._writers.held():
                with self._write() as conn:
                    yield conn
        else:
            with self._write() as conn:
                yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(trustlane_write=True)
                take_trust_changed(conn)  # a mark left on a pooled connection is stale
                log_repo.take_queued(conn)  # so are queues left by a rolled-back transaction
                audit_repo.take_queued(conn)
                conn.info.pop(_MARKS, None)
                with conn.begin():
                    yield conn
                    append_queued(conn)
                    if take_trust_changed(conn):
                        # Last statement of the transaction: see node.storage.trust_repo.
                        bump_generation(conn)
        except SQLAlchemyError as e:
            raise translate_error(e, "database write") from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never blocks other readers on SQLite)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(trustlane_write=False)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as e:
            raise translate_error(e, "database read") from e

    def read_value(self, sql: str) -> Any:
        """The first column of the first row of one parameterless SELECT (None: no row).

        A fast path for a lone read made on every request (the trust generation): one
        statement on a pooled DBAPI connection, without :meth:`read`'s transaction
        machinery (on SQLite about 20 us against 440 us). A single statement sees one
        committed state on both backends (SQLite runs it in autocommit, PostgreSQL in an
        implicit transaction the pool rolls back), so the value is exact. Only for ``sql``
        made by the repositories (no parameters, nothing from a request).

        Raises:
            StorageError: The database cannot be read.
        """
        dbapi_error: Any = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(sql)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                raw.close()
        except (SQLAlchemyError, dbapi_error) as e:
            raise StorageError(f"database read failed: {type(e).__name__}") from e
        return None if row is None else row[0]

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
