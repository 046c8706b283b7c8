"""Audit events and log entries are appended at the end of each write transaction, audit first.

Two "replicas" (separate engines on one database) run two kinds of writers at once: ones
that leave the appends to ``Database.write`` (issuance), and ones that need their log index
before the end and append themselves (scan attestations, ``node.storage.db.append_queued``).
On PostgreSQL, a transaction taking the log head before the audit head while another takes
them the other way round would deadlock; every writer must finish, the audit chain must be
unbroken and every queued entry logged once. A rolled-back transaction appends nothing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from node.services.audit import record_event, verify_chain
from node.storage import log_repo
from node.storage.db import Database, append_queued

NOW = datetime(2026, 12, 4, tzinfo=UTC)
TRANSACTIONS = 20
JOIN_SECONDS = 120


def _writer(db: Database, name: str, appends_itself: bool, errors: list[BaseException]) -> None:
    try:
        for t in range(TRANSACTIONS):
            with db.write() as conn:
                record_event(conn, now=NOW, actor=name, action="test.write", target=f"{t}")
                log_repo.queue_entry(conn, f"{name}-{t}", f"{name}/{t}".encode())
                if appends_itself:
                    (index,) = append_queued(conn)
                    assert index >= 0
    except BaseException as e:  # reported by the test thread
        errors.append(e)


def test_mixed_writers_on_two_replicas_never_deadlock(database_url: str) -> None:
    replicas = [Database(database_url), Database(database_url)]
    replicas[0].migrate()
    try:
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_writer, args=(db, f"r{i}-{kind}", kind == "self", errors))
            for i, db in enumerate(replicas)
            for kind in ("end", "self")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_SECONDS)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        report = verify_chain(replicas[0])
        assert (report.ok, report.events) == (True, 4 * TRANSACTIONS)
        with replicas[0].read() as conn:
            assert log_repo.read_head(conn).size == 4 * TRANSACTIONS
            for thread_name in ("r0-end", "r0-self", "r1-end", "r1-self"):
                for t in range(TRANSACTIONS):
                    assert len(log_repo.find_entries(conn, f"{thread_name}-{t}")) == 1
    finally:
        for db in replicas:
            db.dispose()


def test_a_rolled_back_transaction_appends_nothing(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    try:
        with pytest.raises(RuntimeError), db.write() as conn:
            record_event(conn, now=NOW, actor="test", action="test.write", target="x")
            log_repo.queue_entry(conn, "x", b"x")
            raise RuntimeError("changed my mind")
        # The next transaction on the same pooled connection starts with empty queues.
        with db.write() as conn:
            record_event(conn, now=NOW, actor="test", action="test.write", target="y")
        report = verify_chain(db)
        assert (report.ok, report.events) == (True, 1)
        with db.read() as conn:
            assert log_repo.read_head(conn).size == 0
    finally:
        db.dispose()


def test_a_rolled_back_savepoint_takes_its_queued_appends_with_it(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    try:
        with db.write() as conn:
            record_event(conn, now=NOW, actor="test", action="test.write", target="kept")
            log_repo.queue_entry(conn, "kept", b"kept")
            outer = conn.begin_nested()
            record_event(conn, now=NOW, actor="test", action="test.write", target="gone")
            log_repo.queue_entry(conn, "gone", b"gone")
            with conn.begin_nested():  # released: what it queued stays with the outer one
                log_repo.queue_entry(conn, "inner", b"inner")
            outer.rollback()
            with conn.begin_nested():
                record_event(conn, now=NOW, actor="test", action="test.write", target="after")
        report = verify_chain(db)
        assert (report.ok, report.events) == (True, 2)
        with db.read() as conn:
            assert log_repo.read_head(conn).size == 1
            assert log_repo.find_entries(conn, "kept") == [0]
            assert log_repo.find_entries(conn, "gone") == log_repo.find_entries(conn, "inner") == []
    finally:
        db.dispose()
