"""A revoked token is refused on the very next request, by every worker and replica.

Each worker caches positive token answers; a revocation moves the trust generation, and a
cached answer holds only while the generation it was taken under is current. Two apps over
one database stand for two workers (or two replicas on PostgreSQL): the revocation is made
through one of them, or by the CLI's function, and the other refuses the token next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from conftest import NodeFactory
from node.api.common import RECEIVED_AT
from node.app import create_app
from node.services.tokens import create_token, revoke_token
from node.wiring import NodeServices, build_services
from nodehelpers import aeo_subject, close_services


@pytest.fixture
def workers(make_node: NodeFactory) -> Iterator[tuple[NodeServices, FlaskClient]]:
    """A node, and a client of another worker: its own services over the same data."""
    services, _ = make_node()
    other = build_services(services.settings, {})
    yield services, create_app(other, testing=True).test_client()
    close_services(other)


def _token(services: NodeServices, scope: str) -> tuple[str, dict[str, str]]:
    token_id, token = create_token(
        services.db, name=scope, scopes=frozenset({scope}), now=datetime.now(UTC), actor="t"
    )
    return token_id, {"Authorization": f"Bearer {token}"}


def test_a_token_revoked_in_one_worker_is_refused_by_the_other_at_once(
    workers: tuple[NodeServices, FlaskClient],
) -> None:
    services, client = workers
    token_id, officer = _token(services, "officer")
    # The other worker has the token's answer cached (well within its TTL).
    assert client.get("/registry/peers", headers=officer).status_code == 200
    assert client.get("/registry/peers", headers=officer).status_code == 200
    # Revoked in the first worker's process (as `trustlane token revoke` does).
    assert revoke_token(services.db, token_id, now=datetime.now(UTC), actor="cli")
    answer = client.get("/registry/peers", headers=officer)
    assert answer.status_code == 401, answer.get_data()
    assert answer.get_json()["code"] == "UNAUTHENTICATED"


def test_a_revocation_committed_before_a_request_arrived_is_seen_by_a_shared_read(
    workers: tuple[NodeServices, FlaskClient],
) -> None:
    # Served requests share a generation read that began after they arrived (node serve
    # stamps RECEIVED_AT): a revocation committed before then must still be seen.
    services, client = workers
    token_id, officer = _token(services, "auditor")
    stamp = {RECEIVED_AT: time.monotonic()}
    assert client.get("/registry/peers", headers=officer, environ_base=stamp).status_code == 200
    assert revoke_token(services.db, token_id, now=datetime.now(UTC), actor="cli")
    arrived = {RECEIVED_AT: time.monotonic()}
    answer = client.get("/registry/peers", headers=officer, environ_base=arrived)
    assert answer.status_code == 401, answer.get_data()
    # A token not revoked keeps working through the same shared reads.
    _, auditor = _token(services, "auditor")
    again = {RECEIVED_AT: time.monotonic()}
    assert client.get("/registry/peers", headers=auditor, environ_base=again).status_code == 200


def test_the_cache_still_answers_while_nothing_changed(make_node: NodeFactory) -> None:
    services, _ = make_node()
    _, officer = _token(services, "officer")
    token = officer["Authorization"].split(" ", 1)[1]
    record = services.authenticator(token)
    assert record is not None
    calls = 0
    real = services.db.read

    def counting() -> object:
        nonlocal calls
        calls += 1
        return real()

    services.db.read = counting  # type: ignore[method-assign]
    try:
        assert services.authenticator(token) == record
    finally:
        services.db.read = real  # type: ignore[method-assign]
    assert calls == 0  # the generation is one value read; the token was not looked up again


def test_a_key_made_current_in_one_worker_signs_the_others_next_issuance(
    workers: tuple[NodeServices, FlaskClient],
) -> None:
    # The signing key is read through the same shared generation read as the token: a
    # key made current before a request arrived signs that request's credential.
    services, client = workers
    _, issuer = _token(services, "issuer")
    body = {"credentialSubject": aeo_subject()}

    def issue() -> str:
        stamp = {RECEIVED_AT: time.monotonic()}
        answer = client.post("/aeo-credentials", json=body, headers=issuer, environ_base=stamp)
        assert answer.status_code == 201, answer.get_data()
        return str(answer.get_json()["verifiableCredential"]["proof"]["verificationMethod"])

    before = issue()
    assert issue() == before
    kid = services.identity.add_key(now=datetime.now(UTC), actor="cli", make_current=True)
    after = issue()
    assert after != before
    assert after.endswith(f"#{kid}"), after
