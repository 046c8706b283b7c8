"""Three real nodes (EU, US, JP) on loopback over HTTPS: mutual recognition end to end.

EU-US and EU-JP sign MRAs; US and JP do not. An EU credential gets benefits at US and JP,
a US credential gets none at JP. EU revokes: US refuses benefits after the push, and, with
push disabled, after its next pull. A peer that is down is reported in health and grants
nothing while the other peers keep working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from nodehelpers import aeo_subject
from nodeproc import NodeProcess

RECOGNISED = ["reduced-examination", "priority-processing"]


def _federation_toml(
    node: NodeProcess, peers: list[tuple[str, NodeProcess, str]], *, push: bool, interval: int
) -> None:
    lines = [
        "[federation]",
        f'name = "test federation ({node.name})"',
        "[sync]",
        f"interval_seconds = {interval}",
        "jitter_seconds = 1",
        "timeout_seconds = 5",
        "[freshness]",
        "status_max_age_seconds = 300",
        "did_document_max_age_seconds = 3600",
        "[push]",
        f"enabled = {'true' if push else 'false'}",
        "max_skew_seconds = 60",
        "nonce_ttl_seconds = 300",
    ]
    for name, peer, key in peers:
        lines += [
            "[[peers]]",
            f'name = "{name}"',
            f'did = "{peer.did}"',
            f'base_url = "{peer.base_url}"',
            f'key_fingerprints = ["{key}"]',
            f'ca_bundle = "{peer.ca_path}"',
        ]
    (node.data_dir / "federation.toml").write_text("\n".join(lines) + "\n")


def _key(node: NodeProcess) -> str:
    status, doc, _ = node.get_json("/.well-known/did.json")
    assert status == 200
    key: str = doc["verificationMethod"][0]["publicKeyMultibase"]
    return key


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _recognitions(
    recognising: str, issuing: str, programme: str, levels: list[str]
) -> dict[str, Any]:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": programme, "levels": levels}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer", "manufacturer"],
        "benefits": RECOGNISED,
    }


def _sign_mra(a: NodeProcess, b: NodeProcess) -> str:
    """A proposes to B (delivered as a signed request), B countersigns (delivered back)."""
    status, body = a.post_json(
        "/mras",
        {
            "peer": b.did,
            "recognitions": [
                _recognitions(b.did, a.did, "EU-AEO", ["AEOS", "AEOF"]),
                _recognitions(a.did, b.did, "CTPAT", ["Tier2", "Tier3"]),
            ],
            "noticePeriodDays": 90,
        },
        a.admin_token,
    )
    assert status == 201, body
    agreement_id: str = body["agreement"]["credentialSubject"]["id"]
    # B's administrator finds the proposal waiting for review...
    status, listed, _ = b.get_json("/mras", b.admin_token)
    assert status == 200
    assert {r["id"]: r["state"] for r in listed["agreements"]}[agreement_id] == "pending"
    # ...and countersigns it; the countersigned agreement reaches A.
    status, signed = b.post_json("/mras/countersign", {"id": agreement_id}, b.admin_token)
    assert status == 200, signed
    status, listed, _ = a.get_json("/mras", a.admin_token)
    assert {r["id"]: r["state"] for r in listed["agreements"]}[agreement_id] == "active"
    return agreement_id


def _sync(node: NodeProcess) -> list[dict[str, Any]]:
    status, body = node.post_json("/registry/sync", {}, node.admin_token)
    assert status == 200, body
    outcomes: list[dict[str, Any]] = body["outcomes"]
    return outcomes


def _verify(node: NodeProcess, vc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    # A list the node does not hold yet answers unknown at once and is fetched in the
    # background: ask again (bounded) until it is held.
    deadline = time.monotonic() + 10
    while True:
        status, body = node.post_json(
            "/credentials/verify", {"verifiableCredential": vc}, node.admin_token
        )
        pending = any(c.get("code") == "STATUS_UNAVAILABLE" for c in body.get("checks", []))
        if not pending or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def _checks(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["name"]: (c["status"], c.get("code")) for c in body["checks"]}


@pytest.fixture
def federation(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, NodeProcess]]:
    push: bool = getattr(request, "param", True)
    ca = trustme.CA()
    nodes = {
        name: NodeProcess(tmp_path / name, name=f"{name.upper()} customs")
        for name in ("eu", "us", "jp")
    }
    try:
        for node in nodes.values():
            node.init(None, ca)
            node.start(workers=1)
        keys = {name: _key(node) for name, node in nodes.items()}
        for node in nodes.values():
            node.stop()
        eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
        _federation_toml(
            eu, [("us", us, keys["us"]), ("jp", jp, keys["jp"])], push=push, interval=5
        )
        _federation_toml(us, [("eu", eu, keys["eu"])], push=push, interval=5)
        _federation_toml(jp, [("eu", eu, keys["eu"])], push=push, interval=5)
        for node in nodes.values():
            node.start(workers=2)
        for node in nodes.values():
            outcomes = [o for o in _sync(node) if o["resource"] == "did_document"]
            assert outcomes and all(o["ok"] for o in outcomes), outcomes
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def test_recognition_across_three_nodes(federation: dict[str, NodeProcess]) -> None:
    eu, us, jp = federation["eu"], federation["us"], federation["jp"]
    # Peers are trusted after the first sync (the DID documents match the pins).
    status, peers, _ = us.get_json("/registry/peers", us.admin_token)
    assert status == 200 and [p["trusted"] for p in peers["peers"]] == [True]

    eu_us = _sign_mra(eu, us)
    eu_jp = _sign_mra(eu, jp)
    assert eu_us != eu_jp

    status, body = eu.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, eu.admin_token
    )
    assert status == 201, body
    eu_vc = body["verifiableCredential"]
    for node, agreement in ((us, eu_us), (jp, eu_jp)):
        status, result = _verify(node, eu_vc)
        assert status == 200, result
        assert result["benefits"] == sorted(RECOGNISED)
        assert result["agreement"] == agreement
        assert _checks(result)["recognition"][0] == "pass"
        assert _checks(result)["status"][0] == "pass"

    # A US credential at JP: no peer relationship, no agreement, no benefit.
    us_subject = aeo_subject() | {
        "programme": "CTPAT",
        "level": "Tier2",
        "country": "US",
        "identifiers": [{"scheme": "CTPAT", "value": "CTPAT-123456"}],
        "authorisationNumber": "CTPAT-123456",
    }
    status, body = us.post_json(
        "/aeo-credentials", {"credentialSubject": us_subject}, us.admin_token
    )
    assert status == 201, body
    us_vc = body["verifiableCredential"]
    status, result = _verify(jp, us_vc)
    assert status == 422
    assert result["benefits"] == []
    assert _checks(result)["proof"][0] == "unknown"
    # The same US credential at EU (EU-US agreement recognises CTPAT Tier2): benefits.
    status, result = _verify(eu, us_vc)
    assert status == 200, result
    assert result["benefits"] == sorted(RECOGNISED)

    # Out of scope: an EU AEOC credential is not covered by the EU-US agreement.
    status, body = eu.post_json(
        "/aeo-credentials",
        {
            "credentialSubject": aeo_subject()
            | {"level": "AEOC", "authorisationNumber": "DEAEOC0000012345"}
        },
        eu.admin_token,
    )
    assert status == 201, body
    status, result = _verify(us, body["verifiableCredential"])
    assert status == 422
    assert _checks(result)["proof"][0] == "pass"
    assert _checks(result)["recognition"] == ("fail", "OUT_OF_SCOPE")
    assert result["benefits"] == []

    # EU revokes: the push reaches US and JP, which refuse the credential within a second.
    status, change = eu.post_json(
        "/credentials/status",
        {
            "credentialId": eu_vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        eu.admin_token,
    )
    assert status == 200, change
    for node in (us, jp):
        _wait(
            lambda n=node: _checks(_verify(n, eu_vc)[1])["status"] == ("fail", "REVOKED"),
            5.0,
            f"revocation at {node.name}",
        )
        status, result = _verify(node, eu_vc)
        assert status == 422 and result["benefits"] == []


def test_peer_down_is_reported_and_grants_nothing(federation: dict[str, NodeProcess]) -> None:
    eu, us, jp = federation["eu"], federation["us"], federation["jp"]
    _sign_mra(eu, us)
    jp.stop()
    outcomes = _sync(eu)
    by_peer = {o["peer"]: o for o in outcomes if o["resource"] == "did_document"}
    assert by_peer[us.did]["ok"] is True
    assert by_peer[jp.did]["ok"] is False
    status, health, _ = eu.get_json("/registry/peers", eu.admin_token)
    assert status == 200
    jp_health = next(p for p in health["peers"] if p["did"] == jp.did)
    errors = [r for r in jp_health["resources"] if r["resource"] == "did_document"]
    assert errors and errors[0]["lastError"] and errors[0]["consecutiveFailures"] >= 1
    # US keeps working with EU.
    status, body = us.post_json(
        "/aeo-credentials",
        {
            "credentialSubject": aeo_subject()
            | {
                "programme": "CTPAT",
                "level": "Tier3",
                "country": "US",
                "identifiers": [{"scheme": "CTPAT", "value": "C-9"}],
                "authorisationNumber": "C-9",
            }
        },
        us.admin_token,
    )
    assert status == 201, body
    status, result = _verify(eu, body["verifiableCredential"])
    assert status == 200, result


@pytest.mark.parametrize("federation", [False], indirect=True, ids=["push-disabled"])
def test_revocation_reaches_peer_by_pull_when_push_is_off(
    federation: dict[str, NodeProcess],
) -> None:
    eu, us = federation["eu"], federation["us"]
    _sign_mra(eu, us)
    status, body = eu.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, eu.admin_token
    )
    assert status == 201
    vc = body["verifiableCredential"]
    status, result = _verify(us, vc)
    assert status == 200, result  # US fetched and cached EU's lists in the background
    status, _ = eu.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        eu.admin_token,
    )
    assert status == 200
    # No push: US still relies on its cached (fresh) list until its scheduled pull.
    assert _checks(_verify(us, vc)[1])["status"][0] == "pass"
    _wait(lambda: _checks(_verify(us, vc)[1])["status"] == ("fail", "REVOKED"), 20.0, "pull at US")
