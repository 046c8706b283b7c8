"""SQLite writers queue on a lock and a file lock (node/storage/db.py ``_SQLiteWriters``).

Two ``Database`` objects on one file stand for two worker processes (``flock`` locks belong
to open file descriptions, so two descriptors in one process exclude each other as two
processes do). A writer waits for the other's transaction and then writes; a writer that
waits past the bound gets a storage error (503), never a hang; nested writes in one thread
do not deadlock on the lock; the lock file sits beside the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import node.storage.db as db_module
from node.storage import credentials_repo
from node.storage.db import Database, StorageError
from node.storage.schema import credentials

JOIN_SECONDS = 30
NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "node.db"


@pytest.fixture
def pair(path: Path) -> Iterator[tuple[Database, Database]]:
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")
    first.migrate()
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


def _insert(db: Database, credential_id: str) -> None:
    with db.write() as conn:
        credentials_repo.insert_credential(
            conn,
            credential_id=credential_id,
            types=("VerifiableCredential",),
            subject_id=None,
            issued_at=NOW,
            valid_until=None,
            document="{}",
        )


def _stored(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(credentials)).scalar_one())


def test_the_lock_file_sits_beside_the_database(
    pair: tuple[Database, Database], path: Path
) -> None:
    _insert(pair[0], "urn:x:1")
    assert (path.parent / "node.db-writers").exists()


def test_a_writer_waits_for_the_other_and_then_writes(pair: tuple[Database, Database]) -> None:
    first, second = pair
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def holder() -> None:
        with first.write() as conn:
            credentials_repo.insert_credential(
                conn,
                credential_id="urn:x:first",
                types=("VerifiableCredential",),
                subject_id=None,
                issued_at=NOW,
                valid_until=None,
                document="{}",
            )
            inside.set()
            release.wait(JOIN_SECONDS)
            order.append("first committed")

    def waiter() -> None:
        _insert(second, "urn:x:second")
        order.append("second committed")

    a = threading.Thread(target=holder)
    a.start()
    assert inside.wait(JOIN_SECONDS)
    b = threading.Thread(target=waiter)
    b.start()
    time.sleep(0.2)
    assert order == []  # the second writer is still waiting
    release.set()
    a.join(JOIN_SECONDS)
    b.join(JOIN_SECONDS)
    assert not a.is_alive() and not b.is_alive()
    assert order == ["first committed", "second committed"]
    assert _stored(first) == 2


def test_a_writer_gives_up_after_the_bound(
    pair: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = pair
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 0.3)
    inside, release = threading.Event(), threading.Event()

    def holder() -> None:
        with first.write():
            inside.set()
            release.wait(JOIN_SECONDS)

    a = threading.Thread(target=holder)
    a.start()
    try:
        assert inside.wait(JOIN_SECONDS)
        started = time.monotonic()
        with pytest.raises(StorageError, match="another writer"):
            _insert(second, "urn:x:late")
        assert time.monotonic() - started < JOIN_SECONDS
    finally:
        release.set()
        a.join(JOIN_SECONDS)
    assert _stored(first) == 0
    _insert(second, "urn:x:after")  # the lock is free again
    assert _stored(first) == 1


def test_threads_of_one_process_take_turns(pair: tuple[Database, Database]) -> None:
    first = pair[0]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                _insert(first, f"urn:x:{n}-{i}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert _stored(first) == 40
