"""The federation sync job: one run per interval across workers (database lock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import NodeFactory
from node.federation.scheduler import run_sync_once
from node.storage import federation_repo as repo

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=60)


def test_one_run_per_interval_across_workers(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    first = run_sync_once(services.db, services.peers, now=T0, interval=INTERVAL, owner="w1")
    assert first == []  # ran (no peers yet)
    later = T0 + timedelta(seconds=10)
    assert (
        run_sync_once(services.db, services.peers, now=later, interval=INTERVAL, owner="w2") is None
    )
    next_interval = T0 + INTERVAL
    assert (
        run_sync_once(services.db, services.peers, now=next_interval, interval=INTERVAL, owner="w2")
        == []
    )


def test_a_lock_from_a_longer_interval_is_taken_over(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    with services.db.write() as conn:
        # Taken by a worker configured with a one-hour interval, before a restart.
        assert repo.acquire_job_lock(conn, "federation-sync", "old", T0, T0 + timedelta(hours=1))
    short = timedelta(seconds=5)
    now = T0 + timedelta(seconds=1)
    assert run_sync_once(services.db, services.peers, now=now, interval=short, owner="new") == []
    # ...and the new lock holds for the new, short interval only.
    assert (
        run_sync_once(services.db, services.peers, now=now, interval=short, owner="other") is None
    )
