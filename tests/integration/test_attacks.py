"""The attacks that once got trust they should not have, against three real nodes.

EU, US and JP run as real processes over HTTPS on loopback, on SQLite and on PostgreSQL;
EU-US and EU-JP have agreements. The attackers: an insider with an ``issuer`` token, a
malicious partner (JP's operator, or a rogue node US peers with), and a thief of EU's
signing keys. Each test replays one break found by the attack session and shows that it
now fails closed. The key-compromise test changes EU's keys, so it runs last.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from credentials.aeo import build_aeo_credential
from credentials.datetimes import format_datetime, parse_datetime
from credentials.keys import PrivateKey
from credentials.signing import sign_credential
from federation3 import (
    RECOGNISED,
    RoguePeer,
    checks,
    recognitions,
    sign_mra,
    sync,
    three_nodes,
    verify,
    wait_for,
)
from federation_config.loader import load
from node.federation.push import AGREEMENT_TAG, AGREEMENTS_PATH
from node.keystore import KeyStore, read_passphrase
from nodehelpers import aeo_subject
from nodeproc import NodeProcess, run_cli
from registry.http_signatures import new_nonce, sign_request
from registry.mra import build_mra, countersign_mra, propose_mra
from registry.mra_recognition import build_termination_notice, sign_termination_notice

pytestmark = pytest.mark.slow


@dataclass
class Federation:
    eu: NodeProcess
    us: NodeProcess
    jp: NodeProcess
    ca: trustme.CA
    eu_us: str
    tmp: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp(f"attacks-{request.param}")
    with three_nodes(tmp, request.param) as (nodes, ca):
        eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
        eu_us = sign_mra(eu, us)
        sign_mra(eu, jp)
        yield Federation(eu, us, jp, ca, eu_us, tmp)


def stolen_key(node: NodeProcess, kid: str) -> PrivateKey:
    """What a thief of ``kid`` holds: the private key out of the node's key store."""
    settings = load(node.data_dir, {})
    assert settings.keystore_dir is not None
    passphrase = read_passphrase(
        env_var=settings.passphrase_env, file=settings.passphrase_file, environ={}
    )
    return KeyStore.open(settings.keystore_dir, passphrase).load(kid)


def forged_credential(
    node: NodeProcess, key: PrivateKey, kid: str, created: datetime, like: dict[str, Any]
) -> dict[str, Any]:
    """A credential of ``node`` signed with ``key``, claiming ``created``."""
    unsigned = {k: v for k, v in like.items() if k != "proof"}
    unsigned["id"] = f"urn:uuid:{uuid.uuid4()}"
    return sign_credential(unsigned, key, verification_method=f"{node.did}#{kid}", created=created)


def deliver(sender: str, key: PrivateKey, to: NodeProcess, document: Any) -> Any:
    """POST a document to ``to``'s agreements endpoint as a request signed by DID ``sender``."""
    url = to.base_url + AGREEMENTS_PATH
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    headers |= sign_request(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        key=key,
        key_id=f"{sender}#key-1",
        created=datetime.now(UTC),
        nonce=new_nonce(),
        tag=AGREEMENT_TAG,
    )
    with to.session() as http:
        response = http.post(to.url(AGREEMENTS_PATH), data=body, headers=headers, timeout=10)
        return response.status_code, response.json()


def issue(node: NodeProcess, **subject: Any) -> dict[str, Any]:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject() | subject}, node.admin_token
    )
    assert status == 201, body
    vc: dict[str, Any] = body["verifiableCredential"]
    return vc


def test_issuer_token_cannot_mint_agreements_or_notices(fed: Federation) -> None:
    # Break 2: a clerk's `issuer` token signed a MutualRecognitionAgreement with the node key.
    eu, us, jp = fed.eu, fed.us, fed.jp
    made = eu.cli("token", "create", "--name", "clerk", "--scope", "issuer", "--json")
    assert made.returncode == 0, made.stderr
    clerk = json.loads(made.stdout)["token"]
    for kind in (
        "MutualRecognitionAgreement",
        "MutualRecognitionTerminationNotice",
        "BitstringStatusListCredential",
    ):
        status, body = eu.post_json(
            "/credentials/issue",
            {
                "credential": {
                    "@context": ["https://www.w3.org/ns/credentials/v2"],
                    "type": ["VerifiableCredential", kind],
                    "credentialSubject": {"id": "urn:uuid:" + str(uuid.uuid4())},
                }
            },
            clerk,
        )
        assert (status, body["code"]) == (422, "RESERVED_TYPE"), body

    # The same agreement made with EU's key outside EU's MRA workflow (a minted or stolen
    # proof), countersigned and delivered by a malicious JP: refused, never stored active.
    now = datetime.now(UTC).replace(microsecond=0)
    unsigned = build_mra(
        agreement_id=f"urn:uuid:{uuid.uuid4()}",
        parties=[eu.did, jp.did],
        recognitions=[recognitions(jp.did, eu.did, "EU-AEO", ["AEOS", "AEOF"])],
        effective_from=now,
        effective_until=None,
        notice_period_days=1,
        proposer=eu.did,
    )

    class Keys:
        def resolve_verification_method(self, vm: str, *, at: datetime | None = None) -> Any:
            from credentials.data_integrity import ResolvedVerificationMethod

            key = {f"{eu.did}#key-1": eu_key, f"{jp.did}#key-1": jp_key}[vm]
            return ResolvedVerificationMethod(
                id=vm,
                controller=vm.split("#")[0],
                public_key=key.public_key,
                relationships=frozenset({"assertionMethod", "authentication"}),
            )

    eu_key, jp_key = stolen_key(eu, "key-1"), stolen_key(jp, "key-1")
    minted = propose_mra(unsigned, eu_key, verification_method=f"{eu.did}#key-1", created=now)
    both = countersign_mra(
        minted, jp_key, verification_method=f"{jp.did}#key-1", created=now, resolver=Keys()
    )
    status, body = deliver(jp.did, jp_key, eu, both)
    assert (status, body["code"]) == (422, "MRA_NOT_OURS"), body
    status, listed, _ = eu.get_json("/mras", eu.admin_token)
    assert unsigned["credentialSubject"]["id"] not in {a["id"] for a in listed["agreements"]}

    status, result = verify(us, issue(eu))
    assert status == 200 and result["benefits"] == sorted(RECOGNISED), result


def test_a_question_about_the_past_grants_nothing(fed: Federation) -> None:
    # Break 3: `at` one second before a revocation, or in the future, returned benefits.
    eu, us = fed.eu, fed.us
    vc = issue(eu)
    status, result = verify(us, vc)
    assert status == 200 and result["benefits"] == sorted(RECOGNISED), result
    status, change = eu.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        eu.admin_token,
    )
    assert status == 200, change
    revoked_at = datetime.now(UTC)
    wait_for(lambda: checks(verify(us, vc)[1])["status"] == ("fail", "REVOKED"), 10.0, "revocation")
    before = format_datetime(revoked_at - timedelta(seconds=1))
    status, result = verify(us, vc, {"at": before})
    assert result["historical"] is True, result
    assert result["benefits"] == [] and "agreement" not in result
    status, result = verify(us, vc, {"at": format_datetime(revoked_at + timedelta(hours=3))})
    assert status == 400 and result["code"] == "INVALID_OPTIONS", result


@pytest.fixture
def rogue(fed: Federation) -> Iterator[RoguePeer]:
    peer = RoguePeer(fed.ca)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


def _rogue_credential(
    rogue: RoguePeer, status: list[dict[str, Any]] | None, number: int = 0
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    unsigned = build_aeo_credential(
        aeo_subject(),
        issuer=rogue.did,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        valid_from=now - timedelta(minutes=number),
        valid_until=now + timedelta(days=30),
    )
    if status is not None:
        unsigned["credentialStatus"] = status
    return sign_credential(
        unsigned, rogue.key, verification_method=f"{rogue.did}#key-1", created=now
    )


def _entries(base: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{base}/status-lists/{purpose}-1#5",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": "5",
            "statusListCredential": f"{base}/status-lists/{purpose}-1",
        }
        for purpose in ("revocation", "suspension")
    ]


def test_a_rogue_partner_gets_no_trust(fed: Federation, rogue: RoguePeer) -> None:
    eu, us = fed.eu, fed.us
    # Break 4: a key listed only under `authentication` at first contact was trusted
    # without a pin.
    rogue.serve_json(
        "/.well-known/did.json",
        rogue.did_document(extra_auth_only=PrivateKey.from_seed(bytes([78]) * 32)),
    )
    name = f"rogue{rogue.port}"
    added = run_cli(
        "registry", "peer", "add", "--data-dir", str(us.data_dir), "--name", name,
        "--did", rogue.did, "--base-url", rogue.base_url,
        "--key", rogue.key.public_key.multibase, "--ca-bundle", str(us.ca_path),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    outcome = next(o for o in sync(us) if o["peer"] == rogue.did)
    assert not outcome["ok"] and "PIN_MISMATCH" in outcome["detail"], outcome
    status, peers, _ = us.get_json("/registry/peers", us.admin_token)
    health = next(p for p in peers["peers"] if p["did"] == rogue.did)
    assert health["trusted"] is False and "not pinned" in health["untrustedReason"]

    # With a document that matches its pin, the rogue is a trusted peer; its credentials
    # still need status entries on its own lists (break 5).
    rogue.serve_json("/.well-known/did.json", rogue.did_document())
    outcome = next(
        o for o in sync(us) if o["peer"] == rogue.did and o["resource"] == "did_document"
    )
    assert outcome["ok"], outcome
    for status_entries, code in (
        (None, "STATUS_REQUIRED"),
        (_entries(rogue.base_url)[:1], "STATUS_REQUIRED"),
        (_entries(eu.base_url), "STATUS_LIST_FOREIGN"),
    ):
        status, result = verify(us, _rogue_credential(rogue, status_entries))
        assert status == 422 and result["benefits"] == [], result
        assert checks(result)["proof"] == ("pass", None)
        assert checks(result)["status"] == ("fail", code), result

    # Break 1 (the relay): a termination notice for EU-US, signed with EU's stolen key and
    # dated before the agreement began, relayed by this partner to US: refused, and the
    # agreement stays in force.
    now = datetime.now(UTC).replace(microsecond=0)
    notice = sign_termination_notice(
        build_termination_notice(
            agreement_id=fed.eu_us,
            terminating_party=eu.did,
            notice_given_at=now - timedelta(days=30),
        ),
        stolen_key(eu, "key-1"),
        verification_method=f"{eu.did}#key-1",
        created=now - timedelta(days=30),
    )
    status, body = deliver(rogue.did, rogue.key, us, notice)
    assert (status, body["code"]) == (422, "MRA_NOTICE_RELAYED"), body
    status, listed, _ = us.get_json("/mras", us.admin_token)
    assert {a["id"]: a["state"] for a in listed["agreements"]}[fed.eu_us] == "active"

    # Break 6: the rogue drips its status lists one byte every 50 ms. The verification that
    # names them answers at once (unknown; the fetch runs in the background) and other
    # partners' credentials keep verifying normally meanwhile.
    for purpose in ("revocation", "suspension"):
        rogue.routes[f"/status-lists/{purpose}-1"] = (200, b"")
        rogue.drip.add(f"/status-lists/{purpose}-1")
    dripping = _rogue_credential(rogue, _entries(rogue.base_url))
    status, result = us.post_json(
        "/credentials/verify", {"verifiableCredential": dripping}, us.admin_token
    )
    assert status == 422 and checks(result)["status"] == ("unknown", "STATUS_UNAVAILABLE")
    wait_for(lambda: any("/status-lists/" in h for h in rogue.hits), 5.0, "the background fetch")
    eu_vc = issue(eu)
    with us.session(us.admin_token) as http:
        for _ in range(20):
            response = http.post(
                us.url("/credentials/verify"), json={"verifiableCredential": eu_vc}, timeout=5
            )
            assert response.status_code == 200, response.text
            assert response.json()["benefits"] == sorted(RECOGNISED)
            again = http.post(
                us.url("/credentials/verify"), json={"verifiableCredential": dripping}, timeout=5
            )
            assert again.status_code == 422
            assert checks(again.json())["status"][0] == "unknown"
        health = http.get(us.url("/health/live"), timeout=5)
        assert health.status_code == 200


def test_a_stolen_key_cannot_back_date(fed: Federation) -> None:
    # Break 1: after EU marked key-1 compromised since T, a credential signed with key-1
    # and dated T - 1 day still verified at US with benefits. Runs last: it changes EU's keys.
    eu, us = fed.eu, fed.us
    vc = issue(eu)
    assert vc["proof"]["verificationMethod"] == f"{eu.did}#key-1"
    status, result = verify(us, vc)
    assert status == 200 and result["benefits"] == sorted(RECOGNISED)
    thief = stolen_key(eu, "key-1")
    since = datetime.now(UTC).replace(microsecond=0)
    done = eu.cli("revoke-key", "key-1", "--compromised-since", format_datetime(since))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rotatedTo"] == "key-2" and report["reissuedCredentials"] >= 1, report
    assert report["resignedAgreements"] == 2, report  # EU-US and EU-JP
    sync(us)
    # US holds the agreement re-signed by EU's new key, still active, its own proof kept.
    with us.session() as http:
        held = http.get(
            us.url("/federation/agreements/" + requests.utils.quote(fed.eu_us, safe=":")),
            timeout=10,
        ).json()
    assert held["state"] == "active", held
    signers = {p["verificationMethod"] for p in held["agreement"]["proof"]}
    assert f"{eu.did}#key-2" in signers and f"{eu.did}#key-1" not in signers, signers
    status, peers, _ = us.get_json("/registry/peers", us.admin_token)
    eu_health = next(p for p in peers["peers"] if p["did"] == eu.did)
    assert eu_health["trusted"] is True, eu_health["untrustedReason"]

    backdated = forged_credential(eu, thief, "key-1", since - timedelta(days=1), vc)
    for credential in (backdated, vc):
        status, result = verify(us, credential)
        assert status == 422 and result["benefits"] == [], result
        assert checks(result)["proof"] == ("fail", "KEY_COMPROMISED"), result

    # What key-1 signed was re-issued with key-2 under the same id: it verifies again.
    status, stored, _ = eu.get_json(
        "/credentials/" + requests.utils.quote(vc["id"], safe=":"), eu.admin_token
    )
    assert status == 200, stored
    reissued = stored["verifiableCredential"]
    assert reissued["id"] == vc["id"]
    assert reissued["proof"]["verificationMethod"] == f"{eu.did}#key-2"
    wait_for(lambda: verify(us, reissued)[0] == 200, 10.0, "the re-issued credential at US")
    assert verify(us, reissued)[1]["benefits"] == sorted(RECOGNISED)

    # A thief of key-2 cannot date a proof before key-2 was announced.
    key2_thief = stolen_key(eu, "key-2")
    early = forged_credential(eu, key2_thief, "key-2", since - timedelta(days=400), vc)
    status, result = verify(us, early)
    assert status == 422 and checks(result)["proof"] == ("fail", "KEY_NOT_YET_VALID"), result
    assert parse_datetime(reissued["proof"]["created"]) >= since
