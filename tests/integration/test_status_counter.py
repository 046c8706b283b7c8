"""Status lists count their entries (``status_lists.used``, migration 0016).

Allocation reads the counter instead of counting the open list's entries (which took longer
as the list filled). These tests check that the counter equals the entries after single,
bulk, failed, rolled-back and concurrent allocations (threads on SQLite and PostgreSQL, two
OS processes on PostgreSQL), that a list still rotates at exactly half its size, that a
list never published is locked before its counter moves, that issuance locks the status
rows before the audit and log heads, and the migration that fills the counter from the
entries already stored. test_status_counter_props checks the rotation decisions against a
model of the rule that counting implemented.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, func, inspect, select, text
from status_worker import allocate
from test_status_allocation import Worker

from conftest import NodeFactory
from node.storage import status_alloc_repo, status_repo
from node.storage.db import Database
from node.storage.schema import metadata, status_entries, status_lists
from nodehelpers import aeo_subject, run_alembic, temporary_database

SMALL = 16  # a list of 16 entries is full at 8
NOW = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)


def counted(db: Database) -> dict[str, tuple[int, int]]:
    """list id -> (its counter, its entries counted)."""
    with db.read() as conn:
        rows = conn.execute(
            select(status_lists.c.id, status_lists.c.used, func.count(status_entries.c.idx))
            .select_from(status_lists.outerjoin(status_entries))
            .group_by(status_lists.c.id, status_lists.c.used)
        ).all()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def assert_exact(db: Database) -> dict[str, int]:
    """Every list's counter equals its entries; list id -> entries."""
    found = counted(db)
    assert {k: used for k, (used, _) in found.items()} == {k: n for k, (_, n) in found.items()}
    return {k: n for k, (_, n) in found.items()}


def by_number(ids: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(
        ids.items(), key=lambda item: (item[0].rsplit("-", 1)[0], int(item[0].rsplit("-", 1)[1]))
    )


def one(db: Database, credential_id: str, purpose: str = "revocation") -> str:
    with db.write() as conn:
        list_id, _, _ = allocate(conn, purpose, credential_id, SMALL, NOW)
    return list_id


# -- single and bulk allocation ---------------------------------------------------------------


def test_single_allocations_count_and_rotate_at_exactly_half(db: Database) -> None:
    got = [one(db, f"urn:example:{n}") for n in range(20)]
    assert got == ["revocation-1"] * 8 + ["revocation-2"] * 8 + ["revocation-3"] * 4
    assert by_number(assert_exact(db)) == [
        ("revocation-1", 8),
        ("revocation-2", 8),
        ("revocation-3", 4),
    ]
    # Another purpose has its own counter.
    assert one(db, "urn:example:s", "suspension") == "suspension-1"
    assert assert_exact(db)["suspension-1"] == 1


def test_bulk_allocation_counts_each_list_it_fills(db: Database) -> None:
    with db.write() as conn:
        status_alloc_repo.allocate_index(
            conn, purpose="revocation", credential_id="urn:example:first", size=SMALL, now=NOW
        )
        entries, first_versions = status_alloc_repo.allocate_indexes(
            conn,
            purpose="revocation",
            credential_ids=[f"urn:example:{n}" for n in range(20)],
            size=SMALL,
            now=NOW,
        )
    # 7 more fill revocation-1 (1 + 7 = half of 16), 8 fill revocation-2, 5 go to revocation-3.
    assert [list_id for list_id, _ in entries] == (
        ["revocation-1"] * 7 + ["revocation-2"] * 8 + ["revocation-3"] * 5
    )
    assert first_versions == ["revocation-1", "revocation-2", "revocation-3"]
    assert by_number(assert_exact(db)) == [
        ("revocation-1", 8),
        ("revocation-2", 8),
        ("revocation-3", 5),
    ]
    with db.write() as conn:
        entries, _ = status_alloc_repo.allocate_indexes(
            conn,
            purpose="revocation",
            credential_ids=["urn:example:a", "urn:example:b"],
            size=SMALL,
            now=NOW,
        )
    assert entries[0][0] == entries[1][0] == "revocation-3"
    assert assert_exact(db)["revocation-3"] == 7


def test_a_failed_allocation_gives_its_room_back(db: Database) -> None:
    with db.write() as conn:
        status_alloc_repo.allocate_index(
            conn,
            purpose="revocation",
            credential_id="urn:example:0",
            size=SMALL,
            now=NOW,
            randbelow=lambda _size: 4,
        )
        # Index 4 is the only one ever drawn, and it is taken: no entry, and no count either,
        # even though this transaction goes on and commits.
        with pytest.raises(RuntimeError, match="no free status index"):
            status_alloc_repo.allocate_index(
                conn,
                purpose="revocation",
                credential_id="urn:example:1",
                size=SMALL,
                now=NOW,
                randbelow=lambda _size: 4,
            )
        with pytest.raises(RuntimeError, match="no free status indexes"):
            status_alloc_repo.allocate_indexes(
                conn,
                purpose="revocation",
                credential_ids=["urn:example:2"],
                size=SMALL,
                now=NOW,
                randbelow=lambda _size: 4,
            )
    assert assert_exact(db) == {"revocation-1": 1}


def test_a_rolled_back_savepoint_takes_its_count_with_it(db: Database) -> None:
    with db.write() as conn:
        allocate(conn, "revocation", "urn:example:kept", SMALL, NOW)
        savepoint = conn.begin_nested()
        allocate(conn, "revocation", "urn:example:gone", SMALL, NOW)
        status_alloc_repo.allocate_indexes(
            conn,
            purpose="revocation",
            credential_ids=["urn:example:x", "urn:example:y"],
            size=SMALL,
            now=NOW,
        )
        savepoint.rollback()
        allocate(conn, "revocation", "urn:example:after", SMALL, NOW)
    assert assert_exact(db) == {"revocation-1": 2}


def test_a_list_too_small_to_fill_is_refused(db: Database) -> None:
    with db.write() as conn:
        with pytest.raises(ValueError, match="at least 2 entries"):
            status_alloc_repo.allocate_index(
                conn, purpose="revocation", credential_id="urn:example:0", size=1, now=NOW
            )
        with pytest.raises(ValueError, match="at least 2 entries"):
            status_alloc_repo.allocate_indexes(
                conn, purpose="revocation", credential_ids=["urn:example:0"], size=1, now=NOW
            )
    assert counted(db) == {}


def test_allocation_does_not_count_the_entries(db: Database) -> None:
    """The point of the counter: no statement of an allocation reads the list's entries
    in bulk (only the insert, and the free-index probe of bulk allocation, touch them)."""
    one(db, "urn:example:0")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        one(db, "urn:example:1")
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements
    assert not [s for s in statements if "count(" in s.lower()]


# -- lock order on PostgreSQL -----------------------------------------------------------------


def test_a_list_never_published_is_locked_before_its_counter_moves_postgresql(pg_url: str) -> None:
    """FOR UPDATE before the counter's update and the insert (see allocate_index): taking it
    after them would upgrade a lock that a concurrent key-share holder blocks."""
    db = Database(pg_url)
    try:
        db.migrate()
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(" ".join(statement.split()))

        now = datetime.now(UTC)
        with db.write() as conn:
            conn.execute(
                status_lists.insert().values(
                    id="revocation-1",
                    purpose="revocation",
                    size=SMALL,
                    created_at=now,
                    latest_version=0,
                )
            )
            conn.execute(
                text(
                    "UPDATE status_list_heads SET list_id = 'revocation-1', lists_opened = 1 "
                    "WHERE purpose = 'revocation'"
                )
            )
        event.listen(db.engine, "before_cursor_execute", seen)
        with db.write() as conn:
            list_id, _, needs_first_version = status_alloc_repo.allocate_index(
                conn, purpose="revocation", credential_id="urn:example:0", size=SMALL, now=now
            )
        event.remove(db.engine, "before_cursor_execute", seen)
        assert (list_id, needs_first_version) == ("revocation-1", True)

        def first(prefix: str) -> int:
            return next(i for i, s in enumerate(statements) if s.startswith(prefix))

        head_lock = first("SELECT status_list_heads.list_id, status_list_heads.lists_opened FROM")
        list_lock = first("SELECT status_lists.latest_version FROM status_lists")
        counter = first("UPDATE status_lists SET used")
        insert = first("INSERT INTO status_entries")
        assert statements[head_lock].endswith("FOR UPDATE")
        assert statements[list_lock].endswith("FOR UPDATE")
        assert head_lock < list_lock < counter < insert
        assert assert_exact(db) == {"revocation-1": 1}
    finally:
        db.dispose()


# -- concurrent writers -----------------------------------------------------------------------


def test_concurrent_writers_keep_the_counter_exact(database_url: str) -> None:
    """Two replicas (engines) x 3 threads allocate both purposes, single and bulk, in small
    lists: every counter equals its entries and every list but the last is exactly half full."""
    setup = Database(database_url)
    setup.migrate()
    setup.dispose()
    replicas = [Database(database_url) for _ in range(2)]
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def writer(db: Database, name: str) -> None:
        try:
            start.wait(10)
            for n in range(12):
                with db.write() as conn:
                    if n % 3 == 2:  # a bulk allocation now and then, as an import does
                        for purpose in ("revocation", "suspension"):
                            status_alloc_repo.allocate_indexes(
                                conn,
                                purpose=purpose,
                                credential_ids=[f"urn:{name}:{n}:{k}" for k in range(3)],
                                size=SMALL,
                                now=datetime.now(UTC),
                            )
                    else:
                        for purpose in ("revocation", "suspension"):
                            allocate(conn, purpose, f"urn:{name}:{n}", SMALL, datetime.now(UTC))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(replicas[i % 2], f"w{i}")) for i in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
        found = by_number(assert_exact(replicas[0]))
        for purpose in ("revocation", "suspension"):
            lists = [(k, n) for k, n in found if k.startswith(purpose + "-")]
            # 6 writers x (8 single + 4 x 3 bulk) = 120 entries per purpose, 8 per list.
            assert sum(n for _, n in lists) == 120
            assert [n for _, n in lists] == [8] * 15, lists
    finally:
        for database in replicas:
            database.dispose()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    pair = (Worker(tmp_path / "worker-0.log"), Worker(tmp_path / "worker-1.log"))
    try:
        yield pair
    finally:
        for worker in pair:
            worker.close()


def test_two_processes_keep_the_counter_exact_postgresql(
    tmp_path: Path, workers: tuple[Worker, Worker]
) -> None:
    """status_worker.py processes race on fresh databases, as in test_status_allocation."""
    for repetition in range(5):
        with temporary_database("postgresql", tmp_path) as url:
            db = Database(url)
            try:
                db.migrate()
                for n, worker in enumerate(workers):
                    worker.send({"url": url, "size": SMALL, "transactions": 12, "name": f"w{n}"})
                for worker in workers:
                    assert worker.receive() == "ready"
                for worker in workers:
                    worker.send("go")
                for worker in workers:
                    reply = worker.receive()
                    assert "error" not in reply, reply["error"]
                found = by_number(assert_exact(db))
                where = f"repetition {repetition}: {found}"
                for purpose in ("revocation", "suspension"):
                    assert [n for k, n in found if k.startswith(purpose + "-")] == [8] * 3, where
            finally:
                db.dispose()


# -- migration 0016 ---------------------------------------------------------------------------


def test_migration_0016_counts_the_entries_already_stored(database_url: str) -> None:
    db = Database(database_url)
    try:
        run_alembic(db, "upgrade", "0015")
        now = datetime.now(UTC)
        with db.write() as conn:
            for list_id, entries in (("revocation-1", 8), ("revocation-2", 3), ("suspension-1", 0)):
                conn.execute(
                    text(
                        "INSERT INTO status_lists (id, purpose, size, created_at, latest_version) "
                        "VALUES (:id, :purpose, 16, :now, 1)"
                    ),
                    {"id": list_id, "purpose": list_id.split("-")[0], "now": now},
                )
                for idx in range(entries):
                    conn.execute(
                        text(
                            "INSERT INTO status_entries (list_id, idx, credential_id, value, "
                            "updated_at) VALUES (:list_id, :idx, :cid, false, :now)"
                        ),
                        {
                            "list_id": list_id,
                            "idx": idx * 2,
                            "cid": f"urn:{list_id}:{idx}",
                            "now": now,
                        },
                    )
            conn.execute(
                text(
                    "UPDATE status_list_heads SET list_id = 'revocation-2', lists_opened = 2 "
                    "WHERE purpose = 'revocation'"
                )
            )
        run_alembic(db, "upgrade", "head")
        assert assert_exact(db) == {"revocation-1": 8, "revocation-2": 3, "suspension-1": 0}
        # The schema module says what the migration made.
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, metadata)
        assert [d for d in diffs if "status_lists" in repr(d)] == []
        # Allocation goes on from the counter: revocation-2 fills up to 8, then rotates.
        got = [one(db, f"urn:example:{n}") for n in range(6)]
        assert got == ["revocation-2"] * 5 + ["revocation-3"]
        assert by_number(assert_exact(db))[:3] == [
            ("revocation-1", 8),
            ("revocation-2", 8),
            ("revocation-3", 1),
        ]
        # Down to 0015: the column goes; up again: it is filled again.
        run_alembic(db, "downgrade", "0015")
        with db.engine.connect() as conn:
            assert "used" not in {c["name"] for c in inspect(conn).get_columns("status_lists")}
        run_alembic(db, "upgrade", "head")
        assert by_number(assert_exact(db)) == [
            ("revocation-1", 8),
            ("revocation-2", 8),
            ("revocation-3", 1),
            ("suspension-1", 0),
        ]
    finally:
        db.dispose()


# -- issuance takes head and list rows before the log and audit heads -------------------------


def test_issuance_locks_status_rows_before_the_audit_and_log_heads(
    make_node: NodeFactory,
) -> None:
    """The lock order of status_repo (head row, list row) comes before the audit chain's and
    the transparency log's head rows, which every issuance takes too: the other order in
    one issuer would deadlock it against another on PostgreSQL. Both lists are new here, so
    the transaction also opens and publishes them."""
    services, _ = make_node()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(services.db.engine, "before_cursor_execute", seen)
    try:
        services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    finally:
        event.remove(services.db.engine, "before_cursor_execute", seen)
    status_rows = [
        i
        for i, s in enumerate(statements)
        if s.startswith(("INSERT INTO status_entries", "UPDATE status_lists SET used"))
        or "FROM status_list_heads" in s
    ]
    log_head = [i for i, s in enumerate(statements) if "FROM log_head" in s]
    audit_head = [i for i, s in enumerate(statements) if "FROM audit_head" in s]
    assert status_rows and log_head and audit_head
    assert max(status_rows) < min(log_head) and max(status_rows) < min(audit_head)
    # Both lists were new, and were published in that transaction.
    with services.db.read() as conn:
        versions = [status_repo.latest_version(conn, i) for i in status_repo.list_ids(conn)]
    assert [None if v is None else v.version for v in versions] == [1, 1]
    assert_exact(services.db)
