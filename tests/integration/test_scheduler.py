"""The federation sync job: one run per interval across workers, under DATABASE time.

Each worker passes its own clock (``now``); the lock must ignore it. Workers whose clocks
differ by hours or days must never hold the lock at once, and a lock expires when the
database's clock says so. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Row, select, update

from conftest import NodeFactory
from node.federation.scheduler import JOB_LOCK, LOCK_SHARE, run_sync_once
from node.storage import federation_repo as repo
from node.storage.db import Database
from node.storage.schema import job_locks
from node.wiring import NodeServices

INTERVAL = timedelta(seconds=60)
MIGRATIONS = Path(repo.__file__).parent / "migrations"
SKEWS = [
    pytest.param(timedelta(hours=5), id="ahead-5h"),
    pytest.param(-timedelta(hours=5), id="behind-5h"),
    pytest.param(timedelta(days=400), id="ahead-400d"),
    pytest.param(-timedelta(days=400), id="behind-400d"),
]


def _run(
    services: NodeServices, owner: str, now: datetime, interval: timedelta = INTERVAL
) -> list[object] | None:
    outcomes = run_sync_once(services.db, services.sync, now=now, interval=interval, owner=owner)
    return None if outcomes is None else list(outcomes)


def _lock(services: NodeServices) -> Row[tuple[str, str, datetime]]:
    with services.db.read() as conn:
        return conn.execute(select(job_locks).where(job_locks.c.name == JOB_LOCK)).one()


def _assert_ends_in_database_time(services: NodeServices, hold: timedelta) -> None:
    # The database runs on this machine, so its clock is this process's clock.
    expected = datetime.now(UTC) + hold
    assert abs(_lock(services).locked_until - expected) < timedelta(seconds=5)


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("first", ["accurate", "skewed"])
def test_workers_with_skewed_clocks_cannot_both_hold_the_lock(
    make_node: NodeFactory, skew: timedelta, first: str
) -> None:
    services, _ = make_node()
    accurate = datetime.now(UTC)
    clocks = {"accurate": accurate, "skewed": accurate + skew}
    second = "skewed" if first == "accurate" else "accurate"
    assert _run(services, first, clocks[first]) == []  # ran (no peers yet)
    assert _run(services, second, clocks[second]) is None
    assert _run(services, first, clocks[first]) is None  # not twice per interval either
    assert _lock(services).owner == first
    # The lock ends most of an interval after the database's now, whoever's clock is right.
    _assert_ends_in_database_time(services, INTERVAL * LOCK_SHARE)


def test_the_lock_expires_under_database_time_not_worker_time(make_node: NodeFactory) -> None:
    services, _ = make_node()
    interval = timedelta(seconds=2)
    frozen = datetime.now(UTC)  # every worker's clock stands still from here on
    assert _run(services, "w1", frozen, interval) == []
    # A worker whose clock says the lock ran out long ago still may not take it.
    assert _run(services, "w2", frozen + timedelta(days=1), interval) is None
    time.sleep(interval.total_seconds())
    # Database time has passed the lock's end: a worker a day behind takes it over.
    assert _run(services, "w2", frozen - timedelta(days=1), interval) == []
    assert _lock(services).owner == "w2"
    _assert_ends_in_database_time(services, interval * LOCK_SHARE)


def test_concurrent_workers_with_skewed_clocks_take_the_lock_once_per_interval(
    make_node: NodeFactory,
) -> None:
    services, _ = make_node()
    interval = timedelta(seconds=2)
    accurate = datetime.now(UTC)
    clocks = [accurate + timedelta(hours=h) for h in (-9, -1, 0, 2, 30)]

    def race() -> list[int]:
        barrier = threading.Barrier(len(clocks))
        results: dict[int, list[object] | None] = {}
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            try:
                barrier.wait(timeout=10)
                results[i] = _run(services, f"w{i}", clocks[i], interval)
            except BaseException as e:  # reported below, not lost in the thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(clocks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert len(results) == len(clocks)
        return [i for i, outcome in results.items() if outcome is not None]

    [winner] = race()  # no lock row yet: the inserts race
    assert _lock(services).owner == f"w{winner}"
    time.sleep(interval.total_seconds())
    [winner] = race()  # an expired row: the updates race
    assert _lock(services).owner == f"w{winner}"


def test_a_lock_held_longer_than_this_interval_is_taken_over(make_node: NodeFactory) -> None:
    services, _ = make_node()
    with services.db.write() as conn:
        # Taken by a worker configured with a one-hour interval, before a restart.
        assert repo.acquire_job_lock(conn, JOB_LOCK, "old", timedelta(hours=1))
    short = timedelta(seconds=5)
    now = datetime.now(UTC)
    assert _run(services, "new", now, short) == []
    # ...and the new lock holds for the new, short interval only, whatever the clocks say.
    assert _run(services, "other", now + timedelta(hours=3), short) is None
    assert _run(services, "other", now - timedelta(hours=3), short) is None
    assert _lock(services).owner == "new"
    _assert_ends_in_database_time(services, short * LOCK_SHARE)


def test_a_lock_written_with_a_worker_clock_by_an_older_version_does_not_block(
    make_node: NodeFactory,
) -> None:
    services, _ = make_node()
    assert _run(services, "w1", datetime.now(UTC)) == []
    with services.db.write() as conn:
        # Older versions stored the worker's clock: a year ahead, the lock looked held.
        far = datetime.now(UTC) + timedelta(days=365)
        conn.execute(update(job_locks).values(owner="ahead", locked_until=far))
    assert _run(services, "w2", datetime.now(UTC)) == []
    assert _lock(services).owner == "w2"
    _assert_ends_in_database_time(services, INTERVAL * LOCK_SHARE)


@pytest.mark.parametrize("hold", [timedelta(0), -timedelta(seconds=1)], ids=["zero", "negative"])
def test_a_lock_for_no_time_is_refused(make_node: NodeFactory, hold: timedelta) -> None:
    services, _ = make_node()
    with pytest.raises(ValueError, match="positive"), services.db.write() as conn:
        repo.acquire_job_lock(conn, JOB_LOCK, "w1", hold)
    with services.db.read() as conn:
        assert conn.execute(select(job_locks)).first() is None


def test_the_upgrade_drops_locks_written_with_a_worker_clock(database_url: str) -> None:
    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with db.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            ahead = datetime.now(UTC) + timedelta(days=365)  # a worker's clock, a year ahead
            conn.execute(job_locks.insert().values(name=JOB_LOCK, owner="old", locked_until=ahead))
            conn.commit()
        db.migrate()
        with db.read() as conn:
            assert conn.execute(select(job_locks)).first() is None
        with db.write() as conn:
            assert repo.acquire_job_lock(conn, JOB_LOCK, "new", INTERVAL)
    finally:
        db.dispose()
