"""Every worker signs with the new current key from its first request after a rotation.

Each worker has its own NodeIdentity with its own cache of key records; the cache is keyed
by the trust generation, which every key change bumps in its transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import NodeFactory
from node.services.identity import NodeIdentity


def test_another_worker_sees_a_new_current_key_at_once(make_node: NodeFactory) -> None:
    services, _ = make_node()
    other_worker = NodeIdentity(services.identity.did, services.db, services.keystore)
    before = other_worker.current().kid
    assert other_worker.current().kid == before  # served from its cache
    kid = services.identity.add_key(now=datetime.now(UTC), actor="test", make_current=True)
    assert kid != before
    # No wait, no forget_cache(): the generation moved, so the next signing re-reads.
    assert other_worker.current().kid == kid
    assert {k.kid for k in other_worker.keys()} == {before, kid}
