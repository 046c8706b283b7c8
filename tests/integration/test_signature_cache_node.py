"""The node's verify fast paths, through the services, on SQLite and PostgreSQL.

A second verification of a credential takes its Ed25519 result from the signature cache;
status and key state are still read from the database every time, and the cache forgets a
key once the trust snapshot sees it rotated out or compromised. The trust generation each
request checks is read with one statement outside a transaction, and agrees with a read
transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import NodeFactory
from credentials.keys import PublicKey
from credentials.signature_cache import SignatureCache
from node.storage import trust_repo
from node.storage.errors import StorageError
from nodehelpers import aeo_subject

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _issue(services: Any, now: datetime) -> dict[str, Any]:
    vc: dict[str, Any] = services.issuance.issue_aeo(aeo_subject(), now=now, actor="test")
    return vc


def _codes(result: Any) -> list[str]:
    return [c.code for c in result.checks if c.code]


def _cache(services: Any) -> SignatureCache:
    cache = services.verification.signature_cache
    assert isinstance(cache, SignatureCache)
    return cache


def _raw(services: Any, kid: str) -> bytes:
    [key] = [k for k in services.identity.keys(fresh=True) if k.kid == kid]
    return PublicKey.from_multibase(key.public_key_multibase).raw


def _entries_of(cache: SignatureCache, raw: bytes) -> int:
    return cache.count_key(raw)


def test_re_verify_hits_the_cache_and_a_revocation_still_counts(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0, signature_cache_entries=8)
    cache = _cache(services)
    assert cache.max_entries == 8
    vc = _issue(services, T0 + timedelta(minutes=1))
    now = T0 + timedelta(hours=1)
    assert services.verification.verify_credential(vc, now=now).verified
    assert services.verification.verify_credential(vc, now=now).verified
    assert (cache.misses, cache.hits) == (1, 1)
    services.status.set_status(vc["id"], "revocation", True, now=now, actor="test")
    result = services.verification.verify_credential(vc, now=now + timedelta(seconds=1))
    assert not result.verified and "REVOKED" in _codes(result)
    assert cache.hits == 2  # the signature came from the cache; the status did not


def test_a_compromised_key_fails_and_leaves_the_cache(make_node: NodeFactory) -> None:
    services, _ = make_node(now=T0)
    cache = _cache(services)
    vc = _issue(services, T0 + timedelta(minutes=1))
    now = T0 + timedelta(hours=1)
    assert services.verification.verify_credential(vc, now=now).verified
    assert _entries_of(cache, _raw(services, "key-1")) == 1
    assert services.identity.revoke_key("key-1", since=T0, now=now, actor="test")
    result = services.verification.verify_credential(vc, now=now)
    assert not result.verified and "KEY_COMPROMISED" in _codes(result)
    assert _entries_of(cache, _raw(services, "key-1")) == 0
    assert len(cache) == 0


def test_a_rotated_out_key_leaves_the_cache_and_what_it_signed_still_verifies(
    make_node: NodeFactory,
) -> None:
    services, _ = make_node(now=T0)
    cache = _cache(services)
    old = _issue(services, T0 + timedelta(minutes=1))
    now = T0 + timedelta(hours=3)
    assert services.verification.verify_credential(old, now=now).verified
    assert len(cache) == 1
    services.identity.add_key(now=T0 + timedelta(hours=1), actor="test", make_current=True)
    new = _issue(services, T0 + timedelta(hours=2))
    # The rebuild after the rotation drops key-1's entry; the old credential verifies again
    # (a real check, then cached anew), and so does the new one.
    assert services.verification.verify_credential(new, now=now).verified
    assert _entries_of(cache, _raw(services, "key-1")) == 0
    assert services.verification.verify_credential(old, now=now).verified
    assert _entries_of(cache, _raw(services, "key-1")) == 1
    assert (cache.hits, cache.misses) == (0, 3)


def test_the_generation_fast_read_agrees_with_a_transaction_and_fails_cleanly(
    make_node: NodeFactory,
) -> None:
    # Every verify reads the trust generation with one statement outside a transaction
    # (Database.read_value); it must see exactly what a read transaction sees.
    services, _ = make_node(now=T0)
    sql = trust_repo.generation_sql(services.db.engine.dialect)

    def in_transaction() -> int:
        with services.db.read() as conn:
            return trust_repo.read_generation(conn)

    before = services.db.read_value(sql)
    assert before == in_transaction() and isinstance(before, int)
    assert services.identity.revoke_key("key-1", since=T0, now=T0, actor="test")
    assert services.db.read_value(sql) == in_transaction() == before + 1
    assert services.db.read_value(f"{sql} AND 1 = 0") is None  # no row
    with pytest.raises(StorageError, match="database read failed"):
        services.db.read_value("SELECT value FROM no_such_table")
    # The pool is still usable after the failure.
    assert services.db.read_value(sql) == before + 1
