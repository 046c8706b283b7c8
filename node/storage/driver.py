"""The hot write statements, run on the transaction's DB-API cursor.

Every issuance runs about fifteen statements under the database's write lock (SQLite) or its
head row locks (PostgreSQL): status allocation, the credential, the audit event, the log
entry. Run through :meth:`sqlalchemy.engine.Connection.execute`, each costs 40 to 60 µs of
Python on the bench machine besides the driver's own work (an execution context, result
set-up, events), about a third of an issuance; and under a lock, that time is serial for the
whole deployment.

A :class:`DriverStatement` is built from the same SQLAlchemy construct, compiled once per
dialect. Each run binds the caller's values with the column types' own bind processors (the
very conversion SQLAlchemy makes: a ``UTCDateTime`` is stored as it always was), runs the
engine's ``before_cursor_execute`` listeners (with no execution context), and executes on a
cursor of the connection's DB-API connection, inside the transaction (and savepoint) the
:class:`~sqlalchemy.engine.Connection` has open. So the node's own listener refuses values no
backend stores alike (:func:`node.storage.storable.check_parameters`) here as for every
statement, whoever watches the SQL a node runs sees these too, and the column limits, which
that listener reads from an execution context, are checked here
(:func:`node.storage.storable.check_columns`). A driver error
becomes SQLAlchemy's own exception class (:meth:`sqlalchemy.exc.DBAPIError.instance`), so
``except IntegrityError`` and :func:`~node.storage.db.translate_error` answer as before.

What it does not do: result processing (the statements here read integers, text and bytes,
which both drivers return as such) and expanding ``IN`` lists (build one statement per list
length instead). A lost connection is not marked invalid here; the pool's pre-ping finds it
at the next checkout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from node.storage.storable import check_columns

__all__ = ["DriverStatement"]

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Plan:
    """One statement compiled for one dialect, with what binding a run needs."""

    sql: str
    compiled: Any
    #: Bind names in the order the driver takes them (positional), or every name (named).
    names: tuple[str, ...]
    positional: bool
    #: Values of binds the statement itself holds (``id == 1``), by bind name.
    fixed: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]


class DriverStatement:
    """A SQLAlchemy statement run on the DB-API cursor (see the module docstring).

    Args:
        statement: The construct (select, insert, update), with named ``bindparam`` values.
        columns: For an INSERT or an UPDATE whose SET comes from the parameters, the columns
            it writes (every run must give each of them).
    """

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._columns = list(columns) if columns is not None else None
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self._columns)
        if compiled.escaped_bind_names:
            raise ValueError("bind names the driver would need escaped are not supported")
        fixed: dict[str, Any] = {}
        processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            if bind.expanding:
                raise ValueError("expanding IN lists are not supported: one statement per length")
            if not bind.required:
                fixed[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup) if positional else tuple(compiled.bind_names.values())
        return _Plan(compiled.string, compiled, names, positional, fixed, processors)

    def _bind(self, plan: _Plan, params: Params | None) -> tuple[dict[str, Any], Any]:
        """``(values by bind name, what the driver gets)``; a missing value is a KeyError."""
        given = params or {}
        values = {name: given[name] if name in given else plan.fixed[name] for name in plan.names}
        processed = dict(values)
        for name, processor in plan.processors.items():
            if name in processed:
                processed[name] = processor(processed[name])
        if plan.positional:
            return values, tuple(processed[name] for name in plan.names)
        return values, processed

    def _cursor(self, conn: Connection) -> Any:
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr] # open

    def _fail(self, conn: Connection, plan: _Plan, driver_params: Any, e: Exception) -> Exception:
        dbapi = conn.dialect.loaded_dbapi
        return DBAPIError.instance(plan.sql, driver_params, e, dbapi.Error, dialect=conn.dialect)

    def _execute(
        self,
        conn: Connection,
        plan: _Plan,
        values: list[dict[str, Any]],
        driver_params: Any,
        many: bool,
    ) -> Any:
        """Hand one run to the driver; its open cursor (closed, on any failure)."""
        check_columns(plan.compiled, values)
        cursor = self._cursor(conn)
        try:
            # The listeners first: the node's own refuses unstorable values there.
            conn.dispatch.before_cursor_execute(conn, cursor, plan.sql, driver_params, None, many)
            if many:
                cursor.executemany(plan.sql, driver_params)
            else:
                cursor.execute(plan.sql, driver_params)
        except BaseException as e:
            cursor.close()
            if isinstance(e, conn.dialect.loaded_dbapi.Error):
                raise self._fail(conn, plan, driver_params, e) from e
            raise
        return cursor

    def _run(self, conn: Connection, params: Params | None) -> Any:
        plan = self._plan(conn.dialect)
        values, driver_params = self._bind(plan, params)
        return self._execute(conn, plan, [values], driver_params, False)

    def rowcount(self, conn: Connection, params: Params | None = None) -> int:
        """Run once; the rows it wrote (or matched)."""
        cursor = self._run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Params | None = None) -> tuple[Any, ...] | None:
        """Run once; its first row (a tuple), or None."""
        cursor = self._run(conn, params)
        try:
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()

    def all(self, conn: Connection, params: Params | None = None) -> list[tuple[Any, ...]]:
        """Run once; every row (tuples)."""
        cursor = self._run(conn, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def many(self, conn: Connection, rows: Sequence[Params]) -> None:
        """Run once per row of parameters (the driver's ``executemany``; one row: ``execute``).

        psycopg runs ``executemany`` in pipeline mode, a few more round trips than one
        ``execute`` when there is a single row (an issuance's audit event, its log entry).
        """
        if not rows:
            return
        if len(rows) == 1:
            self._run(conn, rows[0]).close()
            return
        plan = self._plan(conn.dialect)
        bound = [self._bind(plan, row) for row in rows]
        values = [row_values for row_values, _ in bound]
        self._execute(conn, plan, values, [driver for _, driver in bound], True).close()
