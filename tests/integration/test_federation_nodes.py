"""Three real nodes (EU, US, JP) on loopback over HTTPS: mutual recognition end to end.

EU-US and EU-JP sign MRAs; US and JP do not. An EU credential gets benefits at US and JP,
a US credential gets none at JP. EU revokes: US refuses benefits after the push, and, with
push disabled, after its next pull (test_federation_pull.py, its own file so that it runs on
another test worker). A peer that is down is reported in health and grants nothing while the
other peers keep working.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from federation3 import RECOGNISED, checks, federation_nodes, sign_mra, sync, verify, wait_for
from nodehelpers import aeo_subject
from nodeproc import NodeProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def federation(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, NodeProcess]]:
    with federation_nodes(tmp_path, request.param) as nodes:
        yield nodes


def test_recognition_across_three_nodes(federation: dict[str, NodeProcess]) -> None:
    eu, us, jp = federation["eu"], federation["us"], federation["jp"]
    # Peers are trusted after the first sync (the DID documents match the pins).
    status, peers, _ = us.get_json("/registry/peers", us.admin_token)
    assert status == 200 and [p["trusted"] for p in peers["peers"]] == [True]

    eu_us = sign_mra(eu, us)
    eu_jp = sign_mra(eu, jp)
    assert eu_us != eu_jp

    status, body = eu.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, eu.admin_token
    )
    assert status == 201, body
    eu_vc = body["verifiableCredential"]
    for node, agreement in ((us, eu_us), (jp, eu_jp)):
        status, result = verify(node, eu_vc)
        assert status == 200, result
        assert result["benefits"] == sorted(RECOGNISED)
        assert result["agreement"] == agreement
        assert checks(result)["recognition"][0] == "pass"
        assert checks(result)["status"][0] == "pass"

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
    status, result = verify(jp, us_vc)
    assert status == 422
    assert result["benefits"] == []
    assert checks(result)["proof"][0] == "unknown"
    # The same US credential at EU (EU-US agreement recognises CTPAT Tier2): benefits.
    status, result = verify(eu, us_vc)
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
    status, result = verify(us, body["verifiableCredential"])
    assert status == 422
    assert checks(result)["proof"][0] == "pass"
    assert checks(result)["recognition"] == ("fail", "OUT_OF_SCOPE")
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
        wait_for(
            lambda n=node: checks(verify(n, eu_vc)[1])["status"] == ("fail", "REVOKED"),
            5.0,
            f"revocation at {node.name}",
        )
        status, result = verify(node, eu_vc)
        assert status == 422 and result["benefits"] == []


def test_peer_down_is_reported_and_grants_nothing(federation: dict[str, NodeProcess]) -> None:
    eu, us, jp = federation["eu"], federation["us"], federation["jp"]
    sign_mra(eu, us)
    jp.stop()
    outcomes = sync(eu)
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
    status, result = verify(eu, body["verifiableCredential"])
    assert status == 200, result
