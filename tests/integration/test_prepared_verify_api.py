"""``POST /credentials/verify`` with the same body again (issue 8), SQLite and PostgreSQL.

The node keeps verify request bodies prepared by their exact bytes
(:class:`credentials.prepared.PreparedCache`); a body sent again runs only the checks that
depend on the time and on trust. From the attacker's side: after a verification that passed
and was kept, a revocation, a suspension, a compromised key and time passing all show on the
very next request with the same bytes; a changed byte is a miss; a flood of distinct bodies
stays within the cache's bounds and never gets a 5xx.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from conftest import NodeFactory
from credentials.datetimes import parse_datetime
from credentials.prepared import PreparedCache
from node.app import create_app
from node.services.verification import PreparedVerifyRequest, VerificationService
from node.wiring import NodeServices
from nodehelpers import aeo_subject

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _node(
    make_node: NodeFactory, cache: PreparedCache[PreparedVerifyRequest] | None = None
) -> tuple[NodeServices, FlaskClient, dict[str, str], _Clock]:
    services, token = make_node(now=T0)
    clock = _Clock(T0 + timedelta(hours=1))
    services.clock = clock
    if cache is not None:
        services.verification = VerificationService(
            trust=services.trust,
            clock_skew=timedelta(seconds=services.settings.clock_skew_seconds),
            signature_cache=services.verification.signature_cache,
            prepared_cache=cache,
        )
    client = create_app(services, testing=True).test_client()
    return services, client, {"Authorization": f"Bearer {token}"}, clock


def _cache(services: NodeServices) -> PreparedCache[PreparedVerifyRequest]:
    cache = services.verification.prepared_cache
    assert cache is not None
    return cache


def _issue(services: NodeServices) -> dict[str, Any]:
    vc: dict[str, Any] = services.issuance.issue_aeo(
        aeo_subject(), now=T0 + timedelta(minutes=1), actor="test"
    )
    return vc


def _body(vc: dict[str, Any]) -> bytes:
    return json.dumps({"verifiableCredential": vc}, separators=(",", ":")).encode()


def _post(client: FlaskClient, headers: dict[str, str], data: bytes) -> Any:
    return client.post(
        "/credentials/verify", data=data, headers=headers, content_type="application/json"
    )


def _codes(response: Any) -> set[str]:
    return {e["code"] for e in response.get_json()["errors"]}


def test_the_same_body_is_a_hit_and_status_changes_still_show(make_node: NodeFactory) -> None:
    services, client, headers, clock = _node(make_node)
    cache = _cache(services)
    revoked, suspended = _issue(services), _issue(services)
    body, other = _body(revoked), _body(suspended)
    for data in (body, body, other, other):
        answer = _post(client, headers, data)
        assert answer.status_code == 200, answer.get_json()
    assert (cache.misses, cache.hits, len(cache)) == (2, 2, 2)
    now = clock()
    services.status.set_status(revoked["id"], "revocation", True, now=now, actor="test")
    services.status.set_status(suspended["id"], "suspension", True, now=now, actor="test")
    clock.now = now + timedelta(seconds=1)
    gone = _post(client, headers, body)
    assert gone.status_code == 422 and "REVOKED" in _codes(gone)
    held = _post(client, headers, other)
    assert held.status_code == 422 and "SUSPENDED" in _codes(held)
    assert cache.hits == 4  # both answers came from kept bodies
    services.status.set_status(suspended["id"], "suspension", False, now=clock(), actor="test")
    clock.now += timedelta(seconds=1)
    assert _post(client, headers, other).status_code == 200


def test_a_key_compromised_after_a_kept_verification_fails_the_same_body(
    make_node: NodeFactory,
) -> None:
    services, client, headers, clock = _node(make_node)
    body = _body(_issue(services))
    assert _post(client, headers, body).status_code == 200
    assert services.identity.revoke_key("key-1", since=T0, now=clock(), actor="test")
    answer = _post(client, headers, body)
    assert answer.status_code == 422 and "KEY_COMPROMISED" in _codes(answer)
    assert _cache(services).hits == 1


def test_time_passing_expires_a_kept_credential(make_node: NodeFactory) -> None:
    services, client, headers, clock = _node(make_node)
    vc = _issue(services)
    body = _body(vc)
    assert _post(client, headers, body).status_code == 200
    clock.now = parse_datetime(vc["validUntil"], field="validUntil") + timedelta(seconds=1)
    answer = _post(client, headers, body)
    assert answer.status_code == 422 and "EXPIRED" in _codes(answer)
    assert _cache(services).hits == 1
    # A question about the past (options.at) is part of the bytes: another body, answered
    # from scratch, historical and without benefits.
    past = json.dumps(
        {"verifiableCredential": vc, "options": {"at": "2026-11-30T10:00:00Z"}}
    ).encode()
    then = _post(client, headers, past)
    assert then.status_code == 200 and then.get_json()["historical"] is True


def test_a_changed_byte_is_a_miss_and_a_full_verification(make_node: NodeFactory) -> None:
    services, client, headers, _ = _node(make_node)
    vc = _issue(services)
    body = _body(vc)
    assert _post(client, headers, body).status_code == 200
    name = vc["credentialSubject"]["legalName"].encode()
    tampered = body.replace(name, name[:-1] + bytes([name[-1] ^ 1]), 1)
    assert len(tampered) == len(body) and tampered != body
    answer = _post(client, headers, tampered)
    assert answer.status_code == 422
    assert {c["name"]: c["status"] for c in answer.get_json()["checks"]}["proof"] == "fail"
    assert _post(client, headers, body + b"\n").status_code == 200
    cache = _cache(services)
    assert (cache.misses, cache.hits, len(cache)) == (3, 0, 3)


def test_a_flood_of_distinct_bodies_stays_bounded_and_never_fails_the_server(
    make_node: NodeFactory,
) -> None:
    cache: PreparedCache[PreparedVerifyRequest] = PreparedCache(max_entries=8, max_bytes=6_000)
    services, client, headers, _ = _node(make_node, cache)
    body = _body(_issue(services))
    assert _post(client, headers, body).status_code == 200
    seen: set[int] = set()
    for i in range(120):
        kind = i % 4
        if kind == 0:  # a credential that is not one
            data = json.dumps({"verifiableCredential": {"n": i}}).encode()
        elif kind == 1:  # the genuine credential, padded: distinct bytes, same meaning
            data = b" " * i + body
        elif kind == 2:  # not JSON at all
            data = b'{"verifiableCredential": ' + str(i).encode()
        else:  # a member of the wrong type
            data = json.dumps({"verifiableCredential": [i]}).encode()
        answer = _post(client, headers, data)
        seen.add(answer.status_code)
        assert answer.status_code < 500
        if answer.status_code >= 400 and answer.status_code != 422:
            assert answer.content_type == "application/problem+json"
        assert len(cache) <= 8 and cache.total_bytes <= 6_000
    assert seen == {200, 400, 422}
    # Evicted or not, the genuine body still gets the right answer.
    assert _post(client, headers, body).status_code == 200
