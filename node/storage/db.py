"""Database engine, transactions and migrations for SQLite and PostgreSQL.

SQLite (the embedded default) runs in WAL mode with foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing when a read lock cannot be upgraded. PostgreSQL uses row locks (``FOR UPDATE``) where
the repositories need to serialise writers.

Both backends refuse the same values, before any statement reaches the database (see
:func:`_check_parameters`): text holding U+0000 (PostgreSQL cannot store it), text longer
than its ``String(n)`` column (PostgreSQL refuses it, or silently cuts trailing spaces;
SQLite would store it) and integers outside the column's range (PostgreSQL refuses them;
SQLite stores them, or fails beyond 64 bits). Each is an :class:`UnstorableValueError`
(400 ``INVALID_VALUE`` in the API), so that the same request gets the same answer on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, Connection, Engine, Integer, String, Table, create_engine, event
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.sql.dml import Insert, Update

from credentials.errors import MalformedInputError, TrustlaneError
from node.storage import log_repo
from node.storage.errors import StorageConflictError, StorageError
from node.storage.trust_repo import bump_generation, take_trust_changed

__all__ = ["Database", "StorageConflictError", "StorageError", "UnstorableValueError"]

_MIGRATIONS = Path(__file__).parent / "migrations"


class UnstorableValueError(MalformedInputError):
    """A value the database cannot store or look up, refused alike on every backend.

    Text holding U+0000 (NUL), text longer than its column, an integer out of its column's
    range. Raised before the statement runs (or translated from PostgreSQL's DataError).
    """

    code = "INVALID_VALUE"


_INT32 = range(-(2**31), 2**31)
_INT64 = range(-(2**63), 2**63)


def _refuse_nul_and_huge_ints(parameters: Any) -> None:
    """Refuse NUL in any text and integers beyond 64 bits, whatever the statement."""
    stack = [parameters]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnstorableValueError(
                    "text containing U+0000 (NUL) cannot be stored or looked up"
                )
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if item not in _INT64:
                raise UnstorableValueError(f"integer {item} is outside the database's range")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _refuse_out_of_column(context: ExecutionContext) -> None:
    """Refuse what PostgreSQL's column types refuse, on SQLite too.

    Integers bound to an ``Integer`` column (also in a WHERE clause) must fit 32 bits, to a
    ``BigInteger`` column 64 bits. Text written by INSERT or UPDATE must fit its
    ``String(n)`` column; a longer value in a WHERE clause merely matches nothing, as on
    PostgreSQL.
    """
    compiled: Any = getattr(context, "compiled", None)
    binds: dict[str, Any] | None = getattr(compiled, "binds", None)  # none for DDL
    if not binds:
        return
    statement = compiled.statement
    written: dict[str, Any] = {}
    if isinstance(statement, Insert | Update) and isinstance(statement.table, Table):
        written = {c.key: c for c in statement.table.columns}
    compiled_parameters: list[dict[str, Any]] = getattr(context, "compiled_parameters", [])
    for params in compiled_parameters:
        for key, value in params.items():
            bind = binds.get(key)
            if bind is None:
                continue
            type_ = bind.type
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                if isinstance(item, bool) or not isinstance(item, int | str):
                    continue
                if isinstance(item, int) and isinstance(type_, Integer):
                    allowed = _INT64 if isinstance(type_, BigInteger) else _INT32
                    if item not in allowed:
                        raise UnstorableValueError(
                            f"integer {item} is outside the database's range"
                        )
                elif isinstance(item, str) and key in written:
                    column = written[key]
                    length = getattr(column.type, "length", None)
                    if isinstance(column.type, String) and length and len(item) > length:
                        raise UnstorableValueError(
                            f"a value of {len(item)} characters is longer than the {length} "
                            f"the database stores for {column.name}"
                        )


def _check_parameters(
    _conn: Connection,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    _executemany: bool,
) -> None:
    """``before_cursor_execute``: refuse unstorable values alike on every backend."""
    _refuse_nul_and_huge_ints(parameters)
    if context is not None:
        _refuse_out_of_column(context)


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
        event.listen(self.engine, "before_cursor_execute", _check_parameters)

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
                log_repo.take_queued(conn)  # so is a queue left by a rolled-back transaction
                with conn.begin():
                    yield conn
                    # Log appends take the log head lock; only the generation bump follows.
                    log_repo.append_queued(conn)
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
