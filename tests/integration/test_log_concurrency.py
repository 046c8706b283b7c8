"""The transparency log under concurrent writers and replicas (SQLite and PostgreSQL).

Two "replicas" (separate engines on one database), two threads each, append batches at the
same time; the stored tree must be exactly the tree of the stored entries in index order:
same root as a tree rebuilt from the entries, every inclusion and consistency proof equal to
the rebuilt tree's. A rolled-back signature logs nothing.
"""

from __future__ import annotations

import random
import threading
from typing import cast

import pytest

from node.services.identity import NodeIdentity
from node.services.transparency import TransparencyLog
from node.storage import log_repo
from node.storage.db import Database
from node.wiring import NodeServices
from scan_attestation.merkle import MerkleTree

THREADS_PER_REPLICA = 2
TRANSACTIONS = 25


class _Identity:
    did = "did:web:127.0.0.1%3A18443"


def _writer(db: Database, name: str, errors: list[BaseException]) -> None:
    rng = random.Random(name)  # noqa: S311 - reproducible test data, not secrets
    try:
        for t in range(TRANSACTIONS):
            with db.write() as conn:
                for e in range(rng.randint(1, 3)):
                    log_repo.queue_entry(conn, f"{name}-{t}-{e}", f"{name}/{t}/{e}".encode())
    except BaseException as e:  # reported by the test thread
        errors.append(e)


def test_concurrent_replicas_append_one_consistent_tree(node: tuple[NodeServices, str]) -> None:
    url = node[0].settings.database_url
    replicas = [Database(url), Database(url)]
    try:
        with replicas[0].read() as conn:
            start = log_repo.read_head(conn).size
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_writer, args=(db, f"r{i}w{j}", errors))
            for i, db in enumerate(replicas)
            for j in range(THREADS_PER_REPLICA)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        db = replicas[0]
        with db.read() as conn:
            head = log_repo.read_head(conn)
            entries = log_repo.entries_between(conn, 0, head.size)
        assert len(entries) == head.size > start
        # Every transaction's entries are contiguous and in queue order.
        written = entries[start:]
        for name in {e.split(b"/")[0] for e in written}:
            mine = [e for e in written if e.startswith(name + b"/")]
            assert mine == sorted(mine, key=lambda e: tuple(int(x) for x in e.split(b"/")[1:]))
        tree = MerkleTree(entries)
        assert tree.root() == head.root
        log = TransparencyLog(db=db, identity=cast(NodeIdentity, _Identity()))
        rng = random.Random(3)  # noqa: S311 - reproducible test data, not secrets
        for _ in range(40):
            size = rng.randint(1, head.size)
            index = rng.randrange(size)
            assert log.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            old = rng.randint(1, size)
            assert log.consistency_proof(old, size) == tree.consistency_proof(old, size)
    finally:
        for db in replicas:
            db.dispose()


def test_a_rolled_back_signature_logs_nothing(node: tuple[NodeServices, str]) -> None:
    db = node[0].db
    with db.read() as conn:
        before = log_repo.read_head(conn)
    with pytest.raises(RuntimeError), db.write() as conn:
        log_repo.queue_entry(conn, "doomed", b"doomed")
        raise RuntimeError("the signing transaction fails")
    with db.write() as conn:
        pass  # a later transaction on a pooled connection must not append the stale queue
    with db.read() as conn:
        assert log_repo.read_head(conn) == before
        assert log_repo.find_entries(conn, "doomed") == []
