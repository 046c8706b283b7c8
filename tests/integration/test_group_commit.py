"""Group commit (node/storage/group_commit.py) on SQLite and PostgreSQL.

Units from concurrent threads share a transaction; each still gets the outcome it would have
had alone: its value only once committed, its own refusal with its writes and log entries
gone, a duplicate id as a storage conflict, and the transaction's error when the commit
fails (nothing stored). Issuance through the service under concurrency leaves one unbroken
audit chain, one log entry per credential and distinct status indexes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import OperationalError

from credentials.errors import MalformedInputError
from node.services.audit import record_event, verify_chain
from node.storage import audit_repo, credentials_repo, log_repo
from node.storage.db import Database, StorageConflictError, StorageError
from node.storage.group_commit import GroupCommit
from node.storage.schema import credentials, log_entries, status_entries, status_list_heads
from node.wiring import NodeServices

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
JOIN_SECONDS = 60


def _store(credential_id: str) -> Callable[[Connection], str]:
    """A unit that writes what an issuance writes: a credential, an audit event, a log entry."""

    def unit(conn: Connection) -> str:
        credentials_repo.insert_credential(
            conn,
            credential_id=credential_id,
            types=("VerifiableCredential",),
            subject_id=None,
            issued_at=NOW,
            valid_until=None,
            document="{}",
        )
        record_event(conn, now=NOW, actor="test", action="test.stored", target=credential_id)
        log_repo.queue_entry(conn, credential_id, credential_id.encode())
        return credential_id

    return unit


def _refuse(credential_id: str) -> Callable[[Connection], str]:
    """A unit that writes everything and then refuses (as a failed check would)."""

    def unit(conn: Connection) -> str:
        _store(credential_id)(conn)
        raise MalformedInputError("refused after writing", code="REFUSED")

    return unit


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        stored = conn.execute(select(func.count()).select_from(credentials)).scalar_one()
        logged = conn.execute(select(func.count()).select_from(log_entries)).scalar_one()
    return int(stored), int(logged)


def _batched(
    group: GroupCommit[Any], units: list[Callable[[Connection], Any]]
) -> list[tuple[str, Any]]:
    """Run ``units`` so that all but the first share one transaction; their outcomes.

    The first unit's thread leads a transaction of its own and holds it (its unit waits on
    a gate) until every other thread has queued; the gate then opens and the next leader
    takes all of them in one transaction.
    """
    gate, entered = threading.Event(), threading.Event()
    outcomes: list[tuple[str, Any]] = [("missing", None)] * (len(units) + 1)

    def gated(conn: Connection) -> str:
        entered.set()
        if not gate.wait(JOIN_SECONDS):
            raise AssertionError("gate never opened")
        return _store("urn:x:gate")(conn)

    def call(i: int, unit: Callable[[Connection], Any]) -> None:
        try:
            outcomes[i] = ("value", group.run(unit))
        except BaseException as e:  # the outcome under test (SystemExit included)
            outcomes[i] = ("error", e)

    first = threading.Thread(target=call, args=(0, gated))
    first.start()
    assert entered.wait(JOIN_SECONDS)  # the first thread leads: it waits at the gate
    deadline = time.monotonic() + JOIN_SECONDS
    others = [threading.Thread(target=call, args=(i + 1, u)) for i, u in enumerate(units)]
    for thread in others:
        thread.start()
    while group.queued < len(units) and time.monotonic() < deadline:
        time.sleep(0.005)
    gate.set()
    for thread in [first, *others]:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in [first, *others])
    assert outcomes[0] == ("value", "urn:x:gate")
    return outcomes[1:]


def test_a_lone_unit_is_one_transaction(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    assert group.run(_store("urn:x:1")) == "urn:x:1"
    assert (group.transactions, group.units) == (1, 1)
    assert _counts(db) == (1, 1)


def test_a_lone_refusal_rolls_back_everything(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    with pytest.raises(MalformedInputError):
        group.run(_refuse("urn:x:1"))
    assert _counts(db) == (0, 0)
    assert verify_chain(db).events == 0


def test_queued_units_share_one_transaction(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    ids = [f"urn:x:{i}" for i in range(6)]
    outcomes = _batched(group, [_store(i) for i in ids])
    assert outcomes == [("value", i) for i in ids]
    assert (group.transactions, group.units) == (2, 7)
    assert _counts(db) == (7, 7)
    report = verify_chain(db)
    assert (report.ok, report.events) == (True, 7)


def test_max_batch_bounds_a_transaction(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db, max_batch=2)
    ids = [f"urn:x:{i}" for i in range(5)]
    outcomes = _batched(group, [_store(i) for i in ids])
    assert sorted(v for _, v in outcomes) == ids
    assert group.transactions == 1 + 3  # the gate's, then 2 + 2 + 1
    assert _counts(db) == (6, 6)


def test_a_refusal_in_a_batch_loses_only_its_own_writes(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    outcomes = _batched(group, [_store("urn:x:a"), _refuse("urn:x:b"), _store("urn:x:c")])
    assert outcomes[0] == ("value", "urn:x:a")
    assert outcomes[1][0] == "error"
    assert isinstance(outcomes[1][1], MalformedInputError)
    assert outcomes[1][1].code == "REFUSED"
    assert outcomes[2] == ("value", "urn:x:c")
    assert group.transactions == 2
    # Its credential, its audit event and its queued log entry are all gone.
    assert _counts(db) == (3, 3)
    with db.read() as conn:
        ids = set(conn.execute(select(credentials.c.id)).scalars())
        logged = {e.decode() for e in log_repo.entries_between(conn, 0, 3)}
    assert ids == logged == {"urn:x:gate", "urn:x:a", "urn:x:c"}
    report = verify_chain(db)
    assert (report.ok, report.events) == (True, 3)


def test_a_duplicate_id_in_a_batch_is_a_storage_conflict_for_it_alone(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    group.run(_store("urn:x:taken"))
    outcomes = _batched(group, [_store("urn:x:a"), _store("urn:x:taken"), _store("urn:x:b")])
    assert outcomes[0] == ("value", "urn:x:a")
    assert outcomes[1][0] == "error"
    assert isinstance(outcomes[1][1], StorageConflictError)
    assert outcomes[2] == ("value", "urn:x:b")
    assert _counts(db) == (4, 4)
    assert verify_chain(db).ok


def test_a_failed_commit_fails_every_unit_and_stores_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group: GroupCommit[str] = GroupCommit(db)
    group.run(_store("urn:x:before"))
    real = log_repo.append_queued

    def failing(conn: Connection) -> list[int]:
        queued = log_repo.take_queued(conn)
        if any(doc == "urn:x:a" for doc, _ in queued):
            raise OperationalError("COMMIT", {}, Exception("flush failed"))
        for doc, entry in queued:
            log_repo.queue_entry(conn, doc, entry)
        return real(conn)

    monkeypatch.setattr(log_repo, "append_queued", failing)
    outcomes = _batched(group, [_store("urn:x:a"), _refuse("urn:x:b"), _store("urn:x:c")])
    # The refusal keeps its own error; the others were written but never committed.
    assert isinstance(outcomes[1][1], MalformedInputError)
    for kind, error in (outcomes[0], outcomes[2]):
        assert kind == "error"
        assert isinstance(error, StorageError)
    assert outcomes[0][1] is not outcomes[2][1]  # one exception object per thread
    assert _counts(db) == (2, 2)  # "before" and the gate's own transaction


def test_a_unit_ending_its_thread_leaves_no_unit_without_an_outcome(db: Database) -> None:
    def exits(conn: Connection) -> str:
        _store("urn:x:exit")(conn)
        raise SystemExit(3)

    group: GroupCommit[str] = GroupCommit(db)
    outcomes = _batched(group, [_store("urn:x:a"), exits, _store("urn:x:c")])
    # The leader of that transaction ended with SystemExit; every unit got an error (none
    # a value of None), and nothing of the transaction was stored.
    assert [kind for kind, _ in outcomes] == ["error"] * 3
    assert all(isinstance(e, SystemExit) for _, e in outcomes)
    assert _counts(db) == (1, 1)  # the gate's transaction only
    assert group.run(_store("urn:x:after")) == "urn:x:after"  # the queue goes on


@pytest.mark.parametrize("max_batch", [0, -1])
def test_max_batch_must_be_positive(db: Database, max_batch: int) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(db, max_batch=max_batch)


def _queue_behind(
    group: GroupCommit[str],
    ids: list[str],
    release: Callable[[], None],
    waiting: threading.Event | None = None,
) -> None:
    """Run ``_store`` units of ``ids`` concurrently: the first leads and waits (for what
    ``release`` ends; ``waiting`` is set once it does) while the others queue; then
    ``release``; every unit must succeed."""
    outcomes: dict[str, object] = {}

    def call(credential_id: str) -> None:
        try:
            outcomes[credential_id] = group.run(_store(credential_id))
        except Exception as e:  # reported below
            outcomes[credential_id] = e

    deadline = time.monotonic() + JOIN_SECONDS
    first = threading.Thread(target=call, args=(ids[0],))
    first.start()
    while not (group.leading and group.queued == 0) and time.monotonic() < deadline:
        time.sleep(0.005)  # until the leader has taken its own unit and waits
    assert waiting is None or waiting.wait(JOIN_SECONDS)
    others = [threading.Thread(target=call, args=(i,)) for i in ids[1:]]
    for thread in others:
        thread.start()
    while group.queued < len(others) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert group.queued == len(others)
    release()
    for thread in [first, *others]:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in [first, *others])
    assert outcomes == {i: i for i in ids}


def test_units_queued_while_the_prelude_waits_join_its_transaction(db: Database) -> None:
    """The prelude takes the lock every unit would wait for first (another replica may hold
    it); the units that queue while the leader waits for it share the leader's transaction."""
    gate, waiting = threading.Event(), threading.Event()
    calls: list[int] = []

    def prelude(conn: Connection) -> None:
        calls.append(len(calls))
        waiting.set()
        if len(calls) == 1 and not gate.wait(JOIN_SECONDS):
            raise AssertionError("gate never opened")

    group: GroupCommit[str] = GroupCommit(db, prelude=prelude)
    ids = [f"urn:x:{i}" for i in range(5)]
    _queue_behind(group, ids, gate.set, waiting)
    assert calls == [0]
    assert (group.transactions, group.units) == (1, 5)
    assert _counts(db) == (5, 5)
    assert verify_chain(db).events == 5


def test_a_failing_prelude_fails_only_the_leader(db: Database) -> None:
    def prelude(conn: Connection) -> None:
        raise OperationalError("SELECT ... FOR UPDATE", {}, Exception("lock timeout"))

    group: GroupCommit[str] = GroupCommit(db, prelude=prelude)
    with pytest.raises(StorageError):
        group.run(_store("urn:x:1"))
    assert (group.transactions, group.queued) == (1, 0)
    assert _counts(db) == (0, 0)


def test_units_queued_while_the_leader_waits_for_the_write_turn_join_it(db: Database) -> None:
    """SQLite has one writer at a time (another process may hold the turn): the units that
    queue while the leader waits for it share the leader's transaction."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers do not take turns: the prelude test covers it")
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with db.write():
            holding.set()
            done.wait(JOIN_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(JOIN_SECONDS)
    group: GroupCommit[str] = GroupCommit(db)
    ids = [f"urn:x:{i}" for i in range(4)]
    _queue_behind(group, ids, done.set)
    holder.join(JOIN_SECONDS)
    assert (group.transactions, group.units) == (1, 4)
    assert _counts(db) == (4, 4)


def test_issuances_queued_behind_another_writers_head_lock_share_a_transaction(
    node: tuple[NodeServices, str],
) -> None:
    """Issuance waits first for its first status list head (PostgreSQL: the row lock another
    replica's issuance holds until it commits; SQLite: the write turn); the issuances that
    queue meanwhile run in the leader's transaction, each with its own entry."""
    services = node[0]
    issuance = services.issuance
    commits = issuance._commits_for(None, ("revocation",))  # the queue under test
    now = datetime.now(UTC)  # after the node's key was made
    holding, done = threading.Event(), threading.Event()

    def other_replica() -> None:
        if services.db.engine.dialect.name == "sqlite":
            with services.db.write():
                holding.set()
                done.wait(JOIN_SECONDS)
            return
        with services.db.engine.connect() as conn, conn.begin():
            conn.execute(
                select(status_list_heads.c.list_id)
                .where(status_list_heads.c.purpose == "revocation")
                .with_for_update()
            ).all()
            holding.set()
            done.wait(JOIN_SECONDS)

    holder = threading.Thread(target=other_replica)
    holder.start()
    assert holding.wait(JOIN_SECONDS)
    issued: dict[int, object] = {}

    def issue(n: int) -> None:
        try:
            issued[n] = issuance.issue(
                {
                    "@context": ["https://www.w3.org/ns/credentials/v2"],
                    "type": ["VerifiableCredential"],
                    "credentialSubject": {"id": f"did:example:q{n}"},
                },
                status_purposes=("revocation",),
                now=now,
                actor="test",
            )
        except Exception as e:  # reported below
            issued[n] = e

    before = (commits.transactions, commits.units)
    deadline = time.monotonic() + JOIN_SECONDS
    first = threading.Thread(target=issue, args=(0,))
    first.start()
    while not (commits.leading and commits.queued == 0) and time.monotonic() < deadline:
        time.sleep(0.005)  # until the first leads: it waits for the lock the holder has
    others = [threading.Thread(target=issue, args=(n,)) for n in range(1, 4)]
    for thread in others:
        thread.start()
    while commits.queued < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert commits.queued == 3
    done.set()
    for thread in [holder, first, *others]:
        thread.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in [holder, first, *others])
    assert all(isinstance(vc, dict) for vc in issued.values()), issued
    assert (commits.transactions - before[0], commits.units - before[1]) == (1, 4)
    indexes = {
        (vc["credentialStatus"]["statusListCredential"], vc["credentialStatus"]["statusListIndex"])  # type: ignore[index]
        for vc in issued.values()
    }
    assert len(indexes) == 4


def test_concurrent_issuance_shares_transactions_and_keeps_every_invariant(
    node: tuple[NodeServices, str],
) -> None:
    services = node[0]
    issuance = services.issuance
    threads_n, per_thread = 6, 8
    errors: list[BaseException] = []
    issued: list[str] = []
    lock = threading.Lock()

    def issuer(n: int) -> None:
        try:
            for i in range(per_thread):
                vc = issuance.issue(
                    {
                        "@context": ["https://www.w3.org/ns/credentials/v2"],
                        "type": ["VerifiableCredential"],
                        # Odd threads issue as the node's did:key: lists of their own.
                        "issuer": did_key if n % 2 else services.identity.did,
                        "credentialSubject": {"id": f"did:example:t{n}-{i}"},
                    },
                    status_purposes=("revocation",),
                    now=NOW,
                    actor="test",
                )
                with lock:
                    issued.append(str(vc["id"]))
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    did_key = services.identity.current().key.public_key.did
    kid = services.identity.current().kid
    # One queue per status list issuer: a transaction never holds both issuers' list heads.
    commits = issuance._commits_for(None, ("revocation",))  # the batching under test
    key_commits = issuance._commits_for(kid, ("revocation",))
    assert commits is not key_commits
    before = (commits.transactions, commits.units + key_commits.units)
    workers = [threading.Thread(target=issuer, args=(n,)) for n in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(JOIN_SECONDS * 2)
    assert not any(w.is_alive() for w in workers)
    assert errors == []
    total = threads_n * per_thread
    assert len(set(issued)) == total
    assert commits.units + key_commits.units - before[1] == total
    assert key_commits.units >= total // 2
    with services.db.read() as conn:
        entries = conn.execute(
            select(status_entries.c.list_id, status_entries.c.idx).where(
                status_entries.c.credential_id.in_(issued)
            )
        ).all()
        # One log entry per credential (status list versions are logged too).
        assert all(len(log_repo.find_entries(conn, i)) == 1 for i in issued)
    assert len(entries) == len(set(entries)) == total  # one distinct index each
    report = verify_chain(services.db)
    assert report.ok, report.problem
    for credential_id in issued[:3]:
        assert issuance.get(credential_id) is not None


def _cid(name: str) -> str:
    return f"https://issuer.example/credentials/{name}"


# -- bulk runs ---------------------------------------------------------------------------------


def _bulk_store(conn: Connection, units: list[Callable[[Connection], str]]) -> list[str]:
    """A bulk run that does what the units do, one after the other (and says so)."""
    return [f"bulk:{unit(conn)}" for unit in units]


def test_a_bulk_run_serves_a_shared_transaction(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db, bulk=_bulk_store)
    outcomes = _batched(group, [_store("urn:x:a"), _store("urn:x:b")])
    assert outcomes == [("value", "bulk:urn:x:a"), ("value", "bulk:urn:x:b")]
    assert group.bulk_fallbacks == 0
    assert _counts(db) == (3, 3)


def test_a_bulk_run_that_fails_falls_back_to_one_by_one(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db, bulk=_bulk_store)
    outcomes = _batched(group, [_store("urn:x:a"), _refuse("urn:x:b"), _store("urn:x:c")])
    # The bulk run raised on b and was rolled back; one by one, each got its own outcome.
    assert outcomes[0] == ("value", "urn:x:a")
    assert isinstance(outcomes[1][1], MalformedInputError)
    assert outcomes[2] == ("value", "urn:x:c")
    assert group.bulk_fallbacks == 1
    assert _counts(db) == (3, 3)
    report = verify_chain(db)
    assert (report.ok, report.events) == (True, 3)


def test_a_bulk_run_must_answer_every_unit(db: Database) -> None:
    group: GroupCommit[str] = GroupCommit(db, bulk=lambda conn, units: ["only one"])
    outcomes = _batched(group, [_store("urn:x:a"), _store("urn:x:b")])
    assert outcomes == [("value", "urn:x:a"), ("value", "urn:x:b")]
    assert group.bulk_fallbacks == 1


def test_issuances_stored_together_are_what_one_by_one_would_store(
    node: tuple[NodeServices, str],
) -> None:
    """Issuance's bulk run: each credential verifies, with its own entries and audit event;
    an id already stored makes the batch run one by one and only that request is refused."""
    services = node[0]
    issuance = services.issuance
    commits = issuance._commits_for(None, ("revocation",))  # the queue under test
    # After the node's key was made: a proof is valid only from its key's creation on.
    now = datetime.now(UTC)
    issuance.issue(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "id": _cid("taken"),
            "credentialSubject": {"id": "did:example:first"},
        },
        status_purposes=("revocation",),
        now=now,
        actor="first",
    )
    gate, entered = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def issue(credential_id: str, actor: str) -> None:
        try:
            outcomes[credential_id] = issuance.issue(
                {
                    "@context": ["https://www.w3.org/ns/credentials/v2"],
                    "type": ["VerifiableCredential"],
                    "id": credential_id,
                    "credentialSubject": {"id": f"did:example:{actor}"},
                },
                status_purposes=("revocation",),
                now=now,
                actor=actor,
            )
        except Exception as e:  # the outcome under test
            outcomes[credential_id] = e

    def hold(conn: Connection) -> dict[str, Any]:
        entered.set()
        assert gate.wait(JOIN_SECONDS)
        return {}

    def run_batches(ids: list[str]) -> None:
        holder = threading.Thread(target=commits.run, args=(hold,))
        holder.start()
        assert entered.wait(JOIN_SECONDS)
        threads = [threading.Thread(target=issue, args=(i, f"actor-{i[-1]}")) for i in ids]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + JOIN_SECONDS
        while commits.queued < len(ids) and time.monotonic() < deadline:
            time.sleep(0.005)
        gate.set()
        for thread in [holder, *threads]:
            thread.join(JOIN_SECONDS)
        assert not any(t.is_alive() for t in [holder, *threads])

    run_batches(
        [
            _cid("a"),
            _cid("b"),
            _cid("c"),
        ]
    )
    assert commits.bulk_fallbacks == 0
    verification = services.verification
    for credential_id in (
        _cid("a"),
        _cid("b"),
        _cid("c"),
    ):
        vc = outcomes[credential_id]
        assert isinstance(vc, dict), vc
        assert verification.verify_credential(vc, now=now).verified
    with services.db.read() as conn:
        events = {e.target: e.actor for e in audit_repo.iter_events(conn)}
        entries = conn.execute(
            select(status_entries.c.credential_id, status_entries.c.list_id, status_entries.c.idx)
        ).all()
    assert {
        events[i]
        for i in (
            _cid("a"),
            _cid("b"),
            _cid("c"),
        )
    } == {
        "actor-a",
        "actor-b",
        "actor-c",
    }
    assert len({(r.list_id, r.idx) for r in entries}) == len(entries) == 4

    gate.clear()
    entered.clear()
    run_batches(
        [
            _cid("d"),
            _cid("taken"),
            _cid("e"),
        ]
    )
    assert commits.bulk_fallbacks == 1
    refused = outcomes[_cid("taken")]
    assert isinstance(refused, MalformedInputError)
    assert refused.code == "DUPLICATE_ID"
    for credential_id in (
        _cid("d"),
        _cid("e"),
    ):
        assert verification.verify_credential(outcomes[credential_id], now=now).verified
    assert verify_chain(services.db).ok
