"""Statements run on the driver's cursor store and refuse exactly what SQLAlchemy would.

``node.storage.driver`` runs issuance's hot statements on the DB-API cursor of the
transaction's connection. These tests hold it to the SQLAlchemy path it replaces, on SQLite
and PostgreSQL: the same stored values (read back through SQLAlchemy), the same refusals
(``UnstorableValueError`` before anything reaches the database), the same exception classes
for the database's own errors, inside the same transaction and savepoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    event,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from node.storage.db import Database, StorageConflictError, UnstorableValueError
from node.storage.driver import DriverStatement
from node.storage.schema import UTCDateTime

_META = MetaData()
_ROWS = Table(
    "driver_test_rows",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(10), nullable=False),
    Column("big", BigInteger),
    Column("flag", Boolean, nullable=False),
    Column("at", UTCDateTime()),
    Column("blob", LargeBinary),
    Column("body", Text),
)
_COLUMNS = ("id", "name", "big", "flag", "at", "blob", "body")
_INSERT = DriverStatement(_ROWS.insert(), columns=_COLUMNS)
_BY_ID = DriverStatement(select(_ROWS.c.name, _ROWS.c.big).where(_ROWS.c.id == bindparam("id")))
_RENAME_FIRST = DriverStatement(update(_ROWS).where(_ROWS.c.id == 1), columns=("name",))


@pytest.fixture
def rows_db(db: Database) -> Iterator[Database]:
    _META.create_all(db.engine)
    yield db


def _row(id_: int, **overrides: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "name": "n",
        "big": 2**40,
        "flag": True,
        "at": datetime(2026, 12, 4, 10, 30, 15, 123456, tzinfo=UTC),
        "blob": b"\x00\xff",
        "body": "é\n😀",
        **overrides,
    }


def _stored(db: Database) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(_ROWS).order_by(_ROWS.c.id))]


def test_stored_values_read_back_as_through_sqlalchemy(rows_db: Database) -> None:
    offset = timezone(timedelta(hours=5, minutes=30))
    given_values = _row(1, at=datetime(2026, 12, 4, 16, 0, tzinfo=offset), flag=False)
    with rows_db.write() as conn:
        _INSERT.many(conn, [given_values])
        conn.execute(_ROWS.insert(), {**given_values, "id": 2})
    first, second = _stored(rows_db)
    assert first[1:] == second[1:]
    assert first[4] == datetime(2026, 12, 4, 10, 30, tzinfo=UTC)  # stored in UTC
    assert first[3] is False and bytes(first[5]) == b"\x00\xff"
    # As the database holds them (SQLite's text for a time is compared as text in queries).
    with rows_db.read() as conn:
        raw = conn.exec_driver_sql("SELECT name, big, flag, at, blob, body FROM driver_test_rows")
        held = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in raw]
    assert len(held) == 2 and held[0] == held[1]


def test_reads_rowcounts_and_fixed_binds(rows_db: Database) -> None:
    with rows_db.write() as conn:
        _INSERT.many(conn, [_row(1), _row(2, big=None)])
        assert _BY_ID.first(conn, {"id": 2}) == ("n", None)
        assert _BY_ID.first(conn, {"id": 3}) is None
        assert _BY_ID.all(conn, {"id": 1}) == [("n", 2**40)]
        # The statement's own ``id == 1`` is bound without the caller giving it.
        assert _RENAME_FIRST.rowcount(conn, {"name": "renamed"}) == 1
    assert [r[1] for r in _stored(rows_db)] == ["renamed", "n"]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"name": "a\x00b"}, id="nul"),
        pytest.param({"body": "x\x00"}, id="nul-in-unbounded-text"),
        pytest.param({"name": "x" * 11}, id="longer-than-its-column"),
        pytest.param({"id": 2**31}, id="beyond-32-bits"),
        pytest.param({"big": 2**63}, id="beyond-64-bits"),
    ],
)
def test_unstorable_values_are_refused_and_nothing_is_stored(
    rows_db: Database, bad: dict[str, Any]
) -> None:
    with pytest.raises(UnstorableValueError), rows_db.write() as conn:
        _INSERT.many(conn, [_row(1)])
        _INSERT.many(conn, [_row(2), _row(3, **bad)])  # the whole batch is refused
    with pytest.raises(UnstorableValueError), rows_db.write() as conn:
        _BY_ID.first(conn, {"id": bad.get("id", 1), **({} if "id" in bad else {"id": 2**40})})
    assert _stored(rows_db) == []


def test_a_database_error_is_sqlalchemys_and_the_transaction_is_rolled_back(
    rows_db: Database,
) -> None:
    with pytest.raises(StorageConflictError), rows_db.write() as conn:
        _INSERT.many(conn, [_row(1)])
        _INSERT.many(conn, [_row(1)])  # the primary key again
    assert _stored(rows_db) == []


def test_a_savepoint_takes_back_only_its_own_statements(rows_db: Database) -> None:
    with rows_db.write() as conn:
        _INSERT.many(conn, [_row(1)])
        with pytest.raises(IntegrityError), conn.begin_nested():
            _INSERT.many(conn, [_row(2)])
            _INSERT.many(conn, [_row(1)])
        _INSERT.many(conn, [_row(3)])
    assert [r[0] for r in _stored(rows_db)] == [1, 3]


def test_the_engines_statement_listeners_see_every_run(rows_db: Database) -> None:
    seen: list[tuple[str, bool]] = []

    def listener(_c: Any, _cur: Any, sql: str, _p: Any, _ctx: Any, many: bool) -> None:
        seen.append((sql.split()[0], many))

    event.listen(rows_db.engine, "before_cursor_execute", listener)
    try:
        with rows_db.write() as conn:
            _INSERT.many(conn, [_row(1), _row(2)])
            _INSERT.many(conn, [_row(3)])  # one row: a plain execute
            _BY_ID.first(conn, {"id": 1})
    finally:
        event.remove(rows_db.engine, "before_cursor_execute", listener)
    assert seen[-3:] == [("INSERT", True), ("INSERT", False), ("SELECT", False)]


def test_a_listener_that_refuses_stops_the_statement(rows_db: Database) -> None:
    def refuse(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if sql.startswith("INSERT INTO driver_test_rows"):
            raise RuntimeError("refused by a listener")

    event.listen(rows_db.engine, "before_cursor_execute", refuse)
    try:
        for rows in ([_row(1)], [_row(1), _row(2)]):
            with pytest.raises(RuntimeError, match="refused"), rows_db.write() as conn:
                _INSERT.many(conn, rows)
    finally:
        event.remove(rows_db.engine, "before_cursor_execute", refuse)
    assert _stored(rows_db) == []


def test_what_it_cannot_run_is_refused_before_any_statement(rows_db: Database) -> None:
    expanding = DriverStatement(
        select(_ROWS.c.id).where(_ROWS.c.id.in_(bindparam("ids", expanding=True)))
    )
    with rows_db.read() as conn:
        with pytest.raises(ValueError, match="expanding"):
            expanding.all(conn, {"ids": [1]})
        with pytest.raises(KeyError):
            _BY_ID.first(conn, {})


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_INTS = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**64), 2**64),
    st.sampled_from([-(2**63), 2**63 - 1, 2**63, -(2**31) - 1, 2**31]),
)


def _outcome(db: Database, run: Any) -> tuple[str, Any]:
    try:
        with db.write() as conn:
            run(conn)
    except (UnstorableValueError, StorageConflictError) as e:
        return type(e).__name__, None
    with db.write() as conn:
        found = [tuple(r) for r in conn.execute(select(_ROWS))]
        conn.execute(_ROWS.delete())
    return "stored", found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(id_=_INTS, name=_TEXT, big=st.one_of(st.none(), _INTS), body=_TEXT, flag=st.booleans())
def test_the_driver_and_sqlalchemy_agree_on_generated_rows(
    rows_db: Database, id_: int, name: str, big: int | None, body: str, flag: bool
) -> None:
    row = _row(id_, name=name, big=big, body=body, flag=flag)
    through_driver = _outcome(rows_db, lambda conn: _INSERT.many(conn, [row]))
    through_sqlalchemy = _outcome(rows_db, lambda conn: conn.execute(_ROWS.insert(), row))
    assert through_driver == through_sqlalchemy
