"""Status list allocation: concurrent writers share one open list per purpose.

Two replicas starting at once used to be able to open ``revocation-1`` and ``revocation-2``
and abandon the first with a handful of entries (anyone reading it then knows the holder is
one of those few: a writer read "no open list", another committed one, and the first then
counted it and opened the next). These tests race two separate OS processes
(``status_worker.py``) on fresh PostgreSQL databases, replay deterministically every point
at which one writer can commit in the middle of another's allocation, check the rollover of
a full list, and the migration that creates the per-purpose head rows for existing lists.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import delete, event, func, select, update
from status_worker import allocate

from node.storage import status_alloc_repo
from node.storage.db import Database
from node.storage.schema import (
    status_entries,
    status_list_heads,
    status_list_versions,
    status_lists,
)
from nodehelpers import run_alembic, temporary_database
from nodeproc import sanitized_env

WORKER = Path(__file__).with_name("status_worker.py")
PURPOSES = ("revocation", "suspension")
SMALL = 16  # a list of 16 entries is full at 8
REPLY_TIMEOUT = 60.0


class Worker:
    """One ``status_worker.py`` process; every wait for it is bounded."""

    def __init__(self, log: Path) -> None:
        self._log = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=sanitized_env(),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[str] = self.proc.stdin
        self._stdout: IO[str] = self.proc.stdout
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self._stdout,), daemon=True)
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)

    def send(self, message: object) -> None:
        self._stdin.write(json.dumps(message) + "\n")
        self._stdin.flush()

    def receive(self) -> Any:
        try:
            return json.loads(self._lines.get(timeout=REPLY_TIMEOUT))
        except queue.Empty:
            pytest.fail(f"status worker {self.proc.pid} did not answer in {REPLY_TIMEOUT} s")

    def close(self) -> None:
        self._stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=10)  # ends at the end of the worker's output
        self._stdout.close()
        self._log.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    pair = (Worker(tmp_path / "worker-0.log"), Worker(tmp_path / "worker-1.log"))
    try:
        yield pair
    finally:
        for worker in pair:
            worker.close()


def _race(
    workers: tuple[Worker, Worker], url: str, *, size: int, transactions: int
) -> list[tuple[str, str, int]]:
    """Both workers connect, then allocate at the same moment; every entry they got."""
    for n, worker in enumerate(workers):
        worker.send({"url": url, "size": size, "transactions": transactions, "name": f"w{n}"})
    for worker in workers:
        assert worker.receive() == "ready"
    for worker in workers:
        worker.send("go")
    replies = [worker.receive() for worker in workers]
    for reply in replies:
        assert "error" not in reply, reply["error"]
    return [(p, list_id, idx) for reply in replies for p, list_id, idx in reply["entries"]]


@contextmanager
def _fresh_database(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    """A new PostgreSQL database at the schema head."""
    with temporary_database("postgresql", tmp_path) as url:
        db = Database(url)
        try:
            db.migrate()
            yield url, db
        finally:
            db.dispose()


def _lists(db: Database) -> dict[str, list[tuple[str, int]]]:
    """purpose -> [(list id, entries)], in list number order."""
    with db.read() as conn:
        rows = conn.execute(
            select(status_lists.c.purpose, status_lists.c.id, func.count(status_entries.c.idx))
            .select_from(status_lists.outerjoin(status_entries))
            .group_by(status_lists.c.purpose, status_lists.c.id)
        ).all()
    found: dict[str, list[tuple[str, int]]] = {}
    for purpose, list_id, used in rows:
        found.setdefault(purpose, []).append((list_id, used))
    for lists in found.values():
        lists.sort(key=lambda item: int(item[0].rsplit("-", 1)[1]))
    return found


def _heads(db: Database) -> dict[str, tuple[str | None, int]]:
    with db.read() as conn:
        rows = conn.execute(select(status_list_heads)).all()
    return {r.purpose: (r.list_id, r.lists_opened) for r in rows}


def _versions(db: Database) -> dict[str, list[int]]:
    with db.read() as conn:
        rows = conn.execute(
            select(status_list_versions.c.list_id, status_list_versions.c.version)
        ).all()
    found: dict[str, list[int]] = {}
    for list_id, version in rows:
        found.setdefault(list_id, []).append(version)
    return found


def _allocate(db: Database, purpose: str, credential_id: str, size: int) -> tuple[str, bool]:
    """One entry in its own transaction: ``(list_id, opened the list)``."""
    with db.write() as conn:
        list_id, _, opened = allocate(conn, purpose, credential_id, size, datetime.now(UTC))
    return list_id, opened


# -- two OS processes, fresh PostgreSQL databases ---------------------------------------------


def test_concurrent_writers_share_one_list_per_purpose_postgresql(
    tmp_path: Path, workers: tuple[Worker, Worker]
) -> None:
    for repetition in range(20):
        with _fresh_database(tmp_path) as (url, db):
            entries = _race(workers, url, size=131_072, transactions=3)
            where = f"repetition {repetition}"
            assert _lists(db) == {
                "revocation": [("revocation-1", 6)],
                "suspension": [("suspension-1", 6)],
            }, where
            assert {(p, list_id) for p, list_id, _ in entries} == {
                ("revocation", "revocation-1"),
                ("suspension", "suspension-1"),
            }, where
            assert len({(list_id, idx) for _, list_id, idx in entries}) == 12, where
            assert _heads(db) == {
                "revocation": ("revocation-1", 1),
                "suspension": ("suspension-1", 1),
            }, where
            # Each list was published once, by the transaction that opened it.
            assert _versions(db) == {"revocation-1": [1], "suspension-1": [1]}, where


def test_concurrent_rollovers_leave_no_list_behind_postgresql(
    tmp_path: Path, workers: tuple[Worker, Worker]
) -> None:
    for repetition in range(5):
        with _fresh_database(tmp_path) as (url, db):
            entries = _race(workers, url, size=SMALL, transactions=12)
            assert len(entries) == 48
            lists = _lists(db)
            heads = _heads(db)
            versions = _versions(db)
            for purpose in PURPOSES:
                where = f"repetition {repetition}, {purpose}: {lists[purpose]}"
                ids = [list_id for list_id, _ in lists[purpose]]
                assert ids == [f"{purpose}-{n}" for n in range(1, len(ids) + 1)], where
                assert sum(used for _, used in lists[purpose]) == 24, where
                # A new list opens only once the open one is full: none is left with a few.
                assert all(used >= SMALL // 2 for _, used in lists[purpose][:-1]), where
                assert heads[purpose] == (ids[-1], len(ids)), where
                assert all(versions[list_id] == [1] for list_id in ids), where


# -- rollover, on SQLite and PostgreSQL ---------------------------------------------------------


def test_full_list_rolls_over_to_exactly_one_new_list(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        assert _heads(db) == {"revocation": (None, 0), "suspension": (None, 0)}
        first = [_allocate(db, "revocation", f"urn:example:{n}", SMALL) for n in range(8)]
        assert first == [("revocation-1", True)] + [("revocation-1", False)] * 7
        # revocation-1 is full (half its size): the next entry opens exactly one new list,
        # and the entries after it share that list.
        after = [_allocate(db, "revocation", f"urn:example:{n}", SMALL) for n in range(8, 16)]
        assert after == [("revocation-2", True)] + [("revocation-2", False)] * 7
        assert _lists(db) == {"revocation": [("revocation-1", 8), ("revocation-2", 8)]}
        assert _heads(db) == {"revocation": ("revocation-2", 2), "suspension": (None, 0)}
        assert _allocate(db, "revocation", "urn:example:16", SMALL) == ("revocation-3", True)
        assert _allocate(db, "suspension", "urn:example:16", SMALL) == ("suspension-1", True)
    finally:
        db.dispose()


def test_rollover_skips_a_list_id_taken_by_an_older_node(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        for n in range(SMALL // 2):
            _allocate(db, "revocation", f"urn:example:{n}", SMALL)
        # A node older than migration 0005 (rolling upgrade) opened revocation-2 its own
        # way, without moving the head.
        with db.write() as conn:
            conn.execute(
                status_lists.insert().values(
                    id="revocation-2",
                    purpose="revocation",
                    size=SMALL,
                    created_at=datetime.now(UTC),
                    latest_version=0,
                )
            )
        assert _allocate(db, "revocation", "urn:example:next", SMALL) == ("revocation-3", True)
        assert _heads(db)["revocation"] == ("revocation-3", 3)
    finally:
        db.dispose()


def test_writer_waiting_for_a_rollover_shares_the_new_list_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    db = Database(pg_url)
    try:
        db.migrate()
        for n in range(8):
            _allocate(db, "revocation", f"urn:example:{n}", SMALL)
        got: list[str] = []
        with db.engine.connect() as conn, conn.begin():
            # The first writer opens revocation-2 and holds the head lock, uncommitted...
            list_id, _, _ = status_alloc_repo.allocate_index(
                conn, purpose="revocation", credential_id="urn:a", size=SMALL, now=datetime.now(UTC)
            )
            assert list_id == "revocation-2"
            second = threading.Thread(
                target=lambda: got.append(_allocate(db, "revocation", "urn:b", SMALL)[0])
            )
            second.start()
            # ...so the second, which still sees revocation-1 as the full open list, waits.
            second.join(timeout=1.0)
            assert second.is_alive()
        second.join(timeout=10.0)
        assert not second.is_alive()
        assert got == ["revocation-2"]
        assert _lists(db) == {"revocation": [("revocation-1", 8), ("revocation-2", 2)]}
    finally:
        db.dispose()


def _reset(db: Database, *, full_first_list: bool) -> None:
    with db.write() as conn:
        conn.execute(delete(status_entries))
        conn.execute(delete(status_list_versions))
        conn.execute(update(status_list_heads).values(list_id=None, lists_opened=0))
        conn.execute(delete(status_lists))
    if full_first_list:
        for n in range(SMALL // 2):
            _allocate(db, "revocation", f"urn:example:{n}", SMALL)


def _allocate_into(got: dict[str, str], name: str, db: Database) -> None:
    got[name] = _allocate(db, "revocation", f"urn:{name}", SMALL)[0]


@pytest.mark.parametrize("full_first_list", [False, True], ids=["first-list", "rollover"])
def test_a_writer_committing_between_any_two_statements_of_another_postgresql(
    pg_url: str, full_first_list: bool
) -> None:
    """Deterministic interleavings: writer A commits between statements k and k+1 of B.

    For every k, B runs its allocation up to its k-th statement and pauses; A then runs a
    whole allocation (or blocks on B's lock, and finishes after B). Either way the two
    entries must land in one list: the existing open one, or exactly one new list.
    """
    db_a, db_b = Database(pg_url), Database(pg_url)
    try:
        db_a.migrate()
        paused, resume = threading.Event(), threading.Event()
        pause_at = [0]
        seen = [0]

        def before_statement(*_: Any) -> None:
            seen[0] += 1
            if seen[0] == pause_at[0]:
                paused.set()
                resume.wait(timeout=10.0)

        event.listen(db_b.engine, "before_cursor_execute", before_statement)
        expected_list = "revocation-2" if full_first_list else "revocation-1"
        blocked = 0
        for k in range(1, 100):
            _reset(db_a, full_first_list=full_first_list)
            paused.clear()
            resume.clear()
            pause_at[0], seen[0] = k, 0
            got: dict[str, str] = {}
            b = threading.Thread(target=_allocate_into, args=(got, "b", db_b))
            b.start()
            deadline = time.monotonic() + 10.0
            while not paused.wait(timeout=0.01) and b.is_alive():
                assert time.monotonic() < deadline, f"k={k}: B neither paused nor finished"
            if not paused.is_set():
                break  # B finished in fewer than k statements: every k was tried.
            a = threading.Thread(target=_allocate_into, args=(got, "a", db_a))
            a.start()
            a.join(timeout=0.3)
            blocked += a.is_alive()  # A waits for a lock B holds: it finishes after B.
            resume.set()
            b.join(timeout=10.0)
            a.join(timeout=10.0)
            assert not a.is_alive() and not b.is_alive(), f"k={k}"
            assert got == {"a": expected_list, "b": expected_list}, f"k={k}"
            lists = _lists(db_a)["revocation"]
            assert [list_id for list_id, _ in lists][-1] == expected_list, f"k={k}: {lists}"
            assert len(lists) == (2 if full_first_list else 1), f"k={k}: {lists}"
        else:
            pytest.fail("B ran more than 100 statements")
        assert k > 3, "B ran too few statements for the test to mean anything"
        assert blocked, "A never had to wait for B's lock"
    finally:
        db_a.dispose()
        db_b.dispose()


# -- migration 0005 -----------------------------------------------------------------------------


def test_migration_points_the_heads_at_the_newest_existing_lists(database_url: str) -> None:
    db = Database(database_url)
    try:
        run_alembic(db, "upgrade", "0004")
        now = datetime.now(UTC)
        with db.write() as conn:
            for list_id, purpose in (
                ("revocation-1", "revocation"),
                ("revocation-2", "revocation"),
                ("revocation-10", "revocation"),
                ("suspension-1", "suspension"),
            ):
                conn.execute(
                    status_lists.insert().values(
                        id=list_id, purpose=purpose, size=SMALL, created_at=now, latest_version=0
                    )
                )
        run_alembic(db, "upgrade", "head")
        assert _heads(db) == {
            "revocation": ("revocation-10", 10),
            "suspension": ("suspension-1", 1),
        }
        # The open list keeps filling; the next one continues the numbering.
        assert _allocate(db, "revocation", "urn:example:1", SMALL) == ("revocation-10", True)
        run_alembic(db, "downgrade", "0004")
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(status_lists)).scalar_one() == 4
        run_alembic(db, "upgrade", "head")
        assert _heads(db)["revocation"] == ("revocation-10", 10)
    finally:
        db.dispose()
