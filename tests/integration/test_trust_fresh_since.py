"""Requests sharing the trust generation read (issue 8), SQLite and PostgreSQL.

``TrustSnapshotSource.current(fresh_since=t)`` may answer from a generation read that began
at or after ``t`` (when the request was received) instead of reading again. From the
attacker's side: a change committed before a request was received always shows in that
request, alone or with other threads reading and committing at the same time; a read that
began before the request arrived is never reused for it; through the API, a revocation and a
compromised key show on the very next request that carries the server's receipt time.
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import h11

from conftest import NodeFactory
from node.api.common import RECEIVED_AT
from node.app import create_app
from node.server import _environ as server_environ
from node.storage import trust_repo
from node.wiring import NodeServices
from nodehelpers import aeo_subject

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _count_reads(services: NodeServices) -> list[str]:
    """Record every generation read the node makes from now on."""
    reads: list[str] = []
    read_value = services.db.read_value

    def counted(sql: str) -> Any:
        reads.append(sql)
        return read_value(sql)

    services.db.read_value = counted  # type: ignore[method-assign]
    return reads


def _db_generation(services: NodeServices) -> int:
    with services.db.read() as conn:
        return trust_repo.read_generation(conn)


def _commit_trust_change(services: NodeServices) -> int:
    """Commit a transaction that moves the trust generation; the generation after it."""
    with services.db.write() as conn:
        trust_repo.mark_trust_changed(conn)
    return _db_generation(services)


def test_a_read_that_began_before_the_request_is_never_shared(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    trust = services.trust
    reads = _count_reads(services)
    first = trust.current()
    assert len(reads) == 1
    received = time.monotonic()
    # The only read so far began before this request arrived: it reads again.
    assert trust.current(fresh_since=received).generation == first.generation
    assert len(reads) == 2
    # That read began after ``received``: a request received then may share it.
    assert trust.current(fresh_since=received) is trust.current(fresh_since=received)
    assert len(reads) == 2
    # Without a receipt time there is no sharing.
    trust.current()
    assert len(reads) == 3

    # A change committed, then a request received: it reads, and sees the change.
    assert services.identity.revoke_key("key-1", since=T0, now=T0, actor="test")
    after = time.monotonic()
    snapshot = trust.current(fresh_since=after)
    assert len(reads) == 4
    assert snapshot.generation == first.generation + 1 == _db_generation(services)
    assert snapshot.own_keys[f"{services.settings.did}#key-1"].compromised_since == T0
    # invalidate() forgets the shared read as well.
    trust.invalidate()
    trust.current(fresh_since=after)
    assert len(reads) == 5


def test_every_request_sees_what_was_committed_before_it_arrived(
    make_node: NodeFactory,
) -> None:
    # The fast path against the reference (a fresh read of the database): over a random
    # mix of commits and requests received at different times, each answer's generation is
    # at least the one committed before the request was received, and never ahead of the
    # database.
    services, _ = make_node(now=T0)
    trust = services.trust
    rng = random.Random(8)  # noqa: S311 - a reproducible schedule, not a secret
    committed: list[tuple[float, int]] = [(time.monotonic(), _db_generation(services))]
    arrivals: list[float] = [time.monotonic()]
    shared_before = 0
    reads = _count_reads(services)
    for step in range(120):
        if rng.random() < 0.25:
            generation = _commit_trust_change(services)
            committed.append((time.monotonic(), generation))  # stamped after the commit
        if rng.random() < 0.6:
            arrivals.append(time.monotonic())
        received = rng.choice(arrivals[-4:])  # a request received a moment ago, or now
        before = len(reads)
        snapshot = trust.current(fresh_since=received)
        shared_before += len(reads) == before
        due = max(g for stamped, g in committed if stamped <= received)
        assert due <= snapshot.generation <= _db_generation(services), step
    assert 0 < shared_before < 120  # both the shared and the reading branch ran


def test_threads_reading_and_committing_never_miss_a_change(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    trust = services.trust
    committed: list[tuple[float, int]] = [(time.monotonic(), _db_generation(services))]
    lock = threading.Lock()
    failures: list[str] = []
    stop = threading.Event()

    def committer() -> None:
        for _ in range(15):
            generation = _commit_trust_change(services)
            with lock:
                committed.append((time.monotonic(), generation))
            time.sleep(0.005)
        stop.set()

    def requester() -> None:
        while not stop.is_set():
            received = time.monotonic()
            with lock:
                due = max(g for stamped, g in committed if stamped <= received)
            got = trust.current(fresh_since=received).generation
            if got < due:
                failures.append(f"received after generation {due} was committed, got {got}")

    threads = [threading.Thread(target=requester) for _ in range(4)]
    threads.append(threading.Thread(target=committer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert trust.current().generation == _db_generation(services)


def test_the_api_answers_with_the_trust_of_the_requests_receipt(make_node: NodeFactory) -> None:
    services, token = make_node(now=T0)
    client = create_app(services, testing=True).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    vc: dict[str, Any] = services.issuance.issue_aeo(aeo_subject(), now=T0, actor="test")
    other: dict[str, Any] = services.issuance.issue_aeo(aeo_subject(), now=T0, actor="test")
    services.clock = lambda: T0 + timedelta(minutes=5)
    reads = _count_reads(services)

    def verify(document: dict[str, Any], received: object) -> Any:
        body = json.dumps({"verifiableCredential": document}).encode()
        return client.post(
            "/credentials/verify",
            data=body,
            headers=headers,
            content_type="application/json",
            environ_base={RECEIVED_AT: received},
        )

    early = time.monotonic()
    assert verify(vc, early).status_code == 200
    assert len(reads) == 1
    assert verify(vc, early).status_code == 200  # shares the read that began after ``early``
    assert len(reads) == 1

    services.status.set_status(vc["id"], "revocation", True, now=T0, actor="test")
    before = len(reads)
    gone = verify(vc, time.monotonic())
    assert gone.status_code == 422, gone.get_json()
    assert "REVOKED" in {e["code"] for e in gone.get_json()["errors"]}
    assert len(reads) == before + 1  # no read had begun since it arrived: it read

    assert services.identity.revoke_key("key-1", since=T0, now=T0, actor="test")
    broken = verify(other, time.monotonic())
    assert broken.status_code == 422
    assert "KEY_COMPROMISED" in {e["code"] for e in broken.get_json()["errors"]}
    # A receipt time that is not the server's float is ignored: the request reads.
    for value in ("1e18", 10**18):
        before = len(reads)
        assert verify(other, value).status_code == 422
        assert len(reads) == before + 1


def test_the_server_stamps_the_receipt_and_no_header_can() -> None:
    request = h11.Request(
        method="POST",
        target="/credentials/verify",
        headers=[
            ("Host", "127.0.0.1"),
            ("Content-Length", "2"),
            ("Trustlane.received-at", "1e18"),
            ("trustlane.received_at", "1e18"),
        ],
    )
    environ = server_environ(
        request,
        b"{}",
        scheme="http",
        server=("127.0.0.1", 8443),
        peer=("127.0.0.1", 50000),
        multiprocess=False,
        received_at=5.0,
    )
    assert environ[RECEIVED_AT] == 5.0
    # Headers land under HTTP_ (or are dropped, with "_"), never under the server's key.
    assert environ["HTTP_TRUSTLANE.RECEIVED_AT"] == "1e18"
    assert [k for k in environ if "received" in k.lower()] == [
        RECEIVED_AT,
        "HTTP_TRUSTLANE.RECEIVED_AT",
    ]
