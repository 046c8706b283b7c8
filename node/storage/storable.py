"""Values every backend stores alike: the checks made before any statement runs.

Text holding U+0000 (PostgreSQL cannot store it), text longer than its ``String(n)`` column
(PostgreSQL refuses it, or silently cuts trailing spaces; SQLite would store it) and integers
outside the column's range (PostgreSQL refuses them; SQLite stores them, or fails beyond 64
bits) are each an :class:`UnstorableValueError` (400 ``INVALID_VALUE`` in the API), so that
the same request gets the same answer on both. The engine's ``before_cursor_execute`` hook
(:func:`check_parameters`) checks every statement, those run on the driver's cursor
(:mod:`node.storage.driver`) too; having no SQLAlchemy execution context to read the column
limits from, the driver path checks them itself (:func:`check_columns`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, String, Table
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.sql.dml import Insert, Update

from credentials.errors import MalformedInputError

__all__ = ["UnstorableValueError", "check_columns", "check_parameters"]


class UnstorableValueError(MalformedInputError):
    """A value the database cannot store or look up, refused alike on every backend.

    Text holding U+0000 (NUL), text longer than its column, an integer out of its column's
    range. Raised before the statement runs (or translated from PostgreSQL's DataError).
    """

    code = "INVALID_VALUE"


_INT32 = range(-(2**31), 2**31)
_INT64 = range(-(2**63), 2**63)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# Values the walk below passes over whatever they hold (besides str and int, which it checks).
_PASSED_OVER = frozenset({type(None), bool, float, bytes, datetime, date})


def _surely_storable(parameters: Any) -> bool:
    """True when :func:`_refuse_nul_and_huge_ints` would surely accept ``parameters``.

    A fast pass over the usual shapes (one row, or many rows, of plain values) that checks
    the same values; anything else (nesting, subclasses, other types) answers False and the
    full walk decides (and, when it refuses, names the same value as ever).
    """
    if isinstance(parameters, dict | tuple):
        rows: Any = (parameters,)
    elif isinstance(parameters, list):
        rows = parameters
    else:
        return False
    for row in rows:
        kind = type(row)
        if kind is dict:
            values = row.values()
        elif kind is tuple:
            values = row
        else:
            return False
        for item in values:
            kind = type(item)
            if kind is str:
                if "\x00" in item:
                    return False
            elif kind is int:
                if not _INT64_MIN <= item <= _INT64_MAX:
                    return False
            elif kind not in _PASSED_OVER:
                return False
    return True


def _refuse_nul_and_huge_ints(parameters: Any) -> None:
    """Refuse NUL in any text and integers beyond 64 bits, whatever the statement."""
    if _surely_storable(parameters):
        return
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


# What one compiled statement's binds must hold: bind name -> ``(integer range or None, text
# length or None, column name)``, only for binds with a limit. Worked out once per compiled
# statement, and kept for at most _MAX_LIMITS of them (SQLAlchemy's own compiled cache holds
# 500 per engine); when full it starts again empty.
_Limit = tuple[range | None, int | None, str]
_MAX_LIMITS = 2048
_LIMITS: dict[Any, dict[str, _Limit]] = {}


def _limits_of(compiled: Any, binds: dict[str, Any]) -> dict[str, _Limit]:
    found = _LIMITS.get(compiled)
    if found is not None:
        return found
    statement = compiled.statement
    written: dict[str, Any] = {}
    if isinstance(statement, Insert | Update) and isinstance(statement.table, Table):
        written = {c.key: c for c in statement.table.columns}
    limits: dict[str, _Limit] = {}
    for key, bind in binds.items():
        type_ = bind.type
        allowed: range | None = None
        if isinstance(type_, Integer):
            allowed = _INT64 if isinstance(type_, BigInteger) else _INT32
        length: int | None = None
        name = ""
        column = written.get(key)
        if column is not None:
            size = getattr(column.type, "length", None)
            if isinstance(column.type, String) and size:
                length, name = size, column.name
        if allowed is not None or length is not None:
            limits[key] = (allowed, length, name)
    if len(_LIMITS) >= _MAX_LIMITS:
        _LIMITS.clear()
    _LIMITS[compiled] = limits
    return limits


def _within_limits(limits: dict[str, _Limit], rows: list[dict[str, Any]]) -> bool:
    """True when every plain value of ``rows`` fits its limit (False: look again, in order).

    Column by column over the rows (of a multi-row insert), on the limited binds only.
    """
    for key, (allowed, length, _) in limits.items():
        for params in rows:
            value = params.get(key)
            values = value if type(value) is list or type(value) is tuple else (value,)
            for item in values:
                kind = type(item)
                if kind is str:
                    if length is not None and len(item) > length:
                        return False
                elif kind is int:
                    if allowed is not None and item not in allowed:
                        return False
                elif kind not in _PASSED_OVER:
                    return False  # a subclass, something unusual: the full check decides
    return True


def check_columns(compiled: Any, compiled_parameters: list[dict[str, Any]]) -> None:
    """Refuse what PostgreSQL's column types refuse, on SQLite too.

    Integers bound to an ``Integer`` column (also in a WHERE clause) must fit 32 bits, to a
    ``BigInteger`` column 64 bits. Text written by INSERT or UPDATE must fit its
    ``String(n)`` column; a longer value in a WHERE clause merely matches nothing, as on
    PostgreSQL.
    """
    binds: dict[str, Any] | None = getattr(compiled, "binds", None)  # none for DDL
    if not binds:
        return
    limits = _limits_of(compiled, binds)
    if not limits:
        return
    if _within_limits(limits, compiled_parameters):
        return
    # Something is out of its column (or of an unusual shape): refuse the first such value,
    # in the order of the parameters.
    for params in compiled_parameters:
        for key, value in params.items():
            limit = limits.get(key)
            if limit is None:
                continue
            allowed, length, name = limit
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                if isinstance(item, bool) or not isinstance(item, int | str):
                    continue
                if isinstance(item, int):
                    if allowed is not None and item not in allowed:
                        raise UnstorableValueError(
                            f"integer {item} is outside the database's range"
                        )
                elif length is not None and len(item) > length:
                    raise UnstorableValueError(
                        f"a value of {len(item)} characters is longer than the {length} "
                        f"the database stores for {name}"
                    )


def check_parameters(
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
        check_columns(
            getattr(context, "compiled", None), getattr(context, "compiled_parameters", [])
        )
