"""Devices, scan attestations and the transparency log through the API (SQLite, PostgreSQL).

A device-admin registers a radiation portal monitor; the device signs a scan of two
containers; the node checks it, countersigns, logs it and answers with a bundle whose
inclusion proofs and checkpoint verify. Then the abuse: a replayed submission, a tampered
attestation, a key that is not the issuer's, a stale signature, a scan outside the
authorisation (modality, site, calibration), a suspended, retired or unknown device, a bad
container check digit, and tokens without the device-admin scope.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from node.services.tokens import create_token
from node.wiring import NodeServices
from openapi_check import assert_matches_openapi
from scan_attestation import merkle
from scan_attestation.attestation import build_scan_attestation, sign_as_device
from scan_attestation.checkpoint import open_checkpoint
from scan_attestation.log_entry import log_entry, log_origin, parse_log_entry
from scan_attestation.tiles import decode_entry_bundle, leaf_hashes_from_tile

CONTAINERS = ("CSQU3054383", "YMLU3030933")
SITE = "NLRTM"


@dataclasses.dataclass
class Port:
    services: NodeServices
    client: FlaskClient
    device_admin: dict[str, str]
    admin: dict[str, str]

    def register(
        self,
        key: PrivateKey,
        *,
        name: str = "rpm-1",
        modalities: tuple[str, ...] = ("rpm",),
        **extra: Any,
    ) -> dict[str, Any]:
        response = self.client.post(
            "/devices",
            json={
                "name": name,
                "device": key.public_key.did,
                "modalities": list(modalities),
                "site": SITE,
                **extra,
            },
            headers=self.device_admin,
        )
        assert response.status_code == 201, response.get_data()
        assert_matches_openapi(response, "post", "/devices")
        body: dict[str, Any] = response.get_json()
        return body["deviceAuthorization"]

    def submit(self, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post("/scans", json=document)
        assert_matches_openapi(response, "post", "/scans")
        body: dict[str, Any] = response.get_json()
        return response.status_code, body


@pytest.fixture
def port(node: tuple[NodeServices, str], client: FlaskClient) -> Port:
    services, admin_token = node
    _, token = create_token(
        services.db,
        name="scanner fleet",
        scopes=frozenset({"device-admin"}),
        now=datetime.now(UTC),
        actor="test",
    )
    return Port(
        services,
        client,
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {admin_token}"},
    )


def scan_json(*, modality: str = "rpm", result: str = "clear", at: datetime | None = None) -> Any:
    when = (at or datetime.now(UTC)).replace(microsecond=0)
    return {
        "format": "n42",
        "modality": modality,
        "scanTime": format_datetime(when),
        "result": result,
        "rawSha256": hashlib.sha256(b"raw n42 file").hexdigest(),
        "parserNotes": [],
    }


def attestation(
    key: PrivateKey,
    authorization: dict[str, Any],
    *,
    site: str = SITE,
    containers: tuple[str, ...] = CONTAINERS,
    signed_at: datetime | None = None,
    **scan: Any,
) -> dict[str, Any]:
    unsigned = build_scan_attestation(
        attestation_id=f"urn:uuid:{uuid.uuid4()}",
        device=key.public_key.did,
        authorization_id=authorization["id"],
        site=site,
        scan=scan_json(**scan),
        containers=containers,
        seals=("NL1234567",),
        transport_document="MAEU123456789",
    )
    signed: dict[str, Any] = sign_as_device(
        unsigned, key, created=signed_at or datetime.now(UTC).replace(microsecond=0)
    )
    return signed


def node_key(services: NodeServices) -> Any:
    return services.identity.current().key.public_key


def test_scan_is_countersigned_logged_and_proved(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    status, bundle = port.submit(attestation(device, authorization))
    assert status == 201, bundle
    assert bundle["type"] == "ScanAttestationBundle"
    countersigned = bundle["attestation"]
    proofs = countersigned["proof"]
    assert [p["id"].rsplit("#", 1)[1] for p in proofs] == ["device", "node"]
    assert proofs[1]["previousProof"] == proofs[0]["id"]
    services = port.services
    origin = log_origin(services.identity.did)
    checkpoint = open_checkpoint(bundle["log"]["checkpoint"], origin, origin, node_key(services))
    for name, document in (
        ("attestation", countersigned),
        ("deviceAuthorization", bundle["deviceAuthorization"]),
    ):
        inclusion = bundle["log"][name]
        assert inclusion["treeSize"] == checkpoint.size
        hashes = [base64.b64decode(h) for h in inclusion["hashes"]]
        leaf = merkle.leaf_hash(log_entry(document))
        assert merkle.verify_inclusion(
            leaf, inclusion["index"], checkpoint.size, hashes, checkpoint.root
        )
        # The same proof fails for another entry or another index.
        assert not merkle.verify_inclusion(
            merkle.leaf_hash(b"x"), inclusion["index"], checkpoint.size, hashes, checkpoint.root
        )
    # The device authorisation, its status lists and the attestation are all in the log.
    entries = decode_entry_bundle(
        port.client.get(f"/tile/entries/000.p/{checkpoint.size}").get_data()
    )
    types = [parse_log_entry(e).types[-1] for e in entries]
    assert "DeviceAuthorization" in types
    assert "ScanAttestation" in types
    assert "BitstringStatusListCredential" in types


def test_log_serves_tiles_proofs_and_consistent_checkpoints(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    first = port.client.get("/checkpoint")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-cache"
    origin = log_origin(port.services.identity.did)
    old = open_checkpoint(first.get_data(as_text=True), origin, origin, node_key(port.services))
    for _ in range(3):
        assert port.submit(attestation(device, authorization))[0] == 201
    new = open_checkpoint(
        port.client.get("/checkpoint").get_data(as_text=True),
        origin,
        origin,
        node_key(port.services),
    )
    assert new.size == old.size + 3
    response = port.client.get(f"/log/proof/consistency?first={old.size}&second={new.size}")
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/log/proof/consistency")
    proof = [base64.b64decode(h) for h in response.get_json()["hashes"]]
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    # The level-0 tile holds the leaf hashes of the entry bundle.
    tile = port.client.get(f"/tile/0/000.p/{new.size}")
    assert tile.status_code == 200
    assert "immutable" in tile.headers["Cache-Control"]
    entries = decode_entry_bundle(port.client.get(f"/tile/entries/000.p/{new.size}").get_data())
    assert leaf_hashes_from_tile(tile.get_data()) == [merkle.leaf_hash(e) for e in entries]
    tree = merkle.MerkleTree()
    for entry in entries:
        tree.append(entry)
    assert tree.root() == new.root
    # By document id, as a port that holds the credential would ask.
    by_id = port.client.get(f"/log/proof/inclusion?treeSize={new.size}&id={authorization['id']}")
    assert by_id.status_code == 200
    assert_matches_openapi(by_id, "get", "/log/proof/inclusion")


@pytest.mark.parametrize(
    "query",
    [
        "/log/proof/inclusion?index=5&treeSize=2",
        "/log/proof/inclusion?index=0&treeSize=999999",
        "/log/proof/inclusion?index=-1&treeSize=1",
        "/log/proof/inclusion?index=01&treeSize=2",
        "/log/proof/inclusion?treeSize=2",
        "/log/proof/consistency?first=3&second=1",
        "/log/proof/consistency?first=0&second=99999999999999999999999",
        "/tile/0/000",
        "/tile/0/../../etc/passwd",
        "/tile/0/x000/001",
        "/tile/entries/000.p/0",
        "/tile/entries/000.p/300",
    ],
)
def test_bad_log_requests_are_clean_4xx(port: Port, query: str) -> None:
    response = port.client.get(query)
    assert 400 <= response.status_code < 500, (query, response.status_code)
    assert response.mimetype == "application/problem+json"


def _refusal(port: Port, document: dict[str, Any]) -> tuple[int, str]:
    status, body = port.submit(document)
    return status, body.get("code", "")


def test_replayed_and_forged_submissions_are_refused(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    good = attestation(device, authorization)
    assert port.submit(good)[0] == 201
    assert _refusal(port, good) == (409, "DUPLICATE_ID")
    # Tampered after signing: the result flipped from alarm to clear.
    alarmed = attestation(device, authorization, result="alarm")
    tampered = copy.deepcopy(alarmed)
    tampered["credentialSubject"]["scan"]["result"] = "clear"
    assert _refusal(port, tampered) == (422, "DEVICE_PROOF")
    # Signed by a stranger's key, in the name of the registered device.
    stranger = PrivateKey.generate()
    forged = copy.deepcopy(alarmed)
    del forged["proof"]
    forged_proof = sign_as_device(
        {**forged, "issuer": stranger.public_key.did}, stranger, created=datetime.now(UTC)
    )["proof"]
    assert _refusal(port, {**forged, "proof": forged_proof}) == (422, "DEVICE_PROOF")
    # A second, extra proof (a node proof the device made up).
    doubled = copy.deepcopy(alarmed)
    doubled["proof"] = [alarmed["proof"], alarmed["proof"]]
    assert _refusal(port, doubled)[0] == 422
    # Signed long ago, submitted now.
    stale = attestation(
        device,
        authorization,
        at=datetime.now(UTC) - timedelta(hours=2),
        signed_at=datetime.now(UTC) - timedelta(hours=1),
    )
    assert _refusal(port, stale) == (422, "STALE_SUBMISSION")
    # The untampered alarm is still accepted once.
    assert port.submit(alarmed)[0] == 201


def test_scans_outside_the_authorisation_are_refused(port: Port) -> None:
    device = PrivateKey.generate()
    due = datetime.now(UTC) - timedelta(days=1)
    authorization = port.register(
        device, calibrationDue=format_datetime(due.replace(microsecond=0))
    )
    status, code = _refusal(port, attestation(device, authorization, modality="xray"))
    assert (status, code) == (422, "DEVICE_NOT_AUTHORIZED")
    _, body = port.submit(attestation(device, authorization, site="USNYC"))
    assert "site USNYC" in body["detail"]
    assert "calibration" in body["detail"]
    # Unknown device: a valid did:key that was never registered.
    unknown = PrivateKey.generate()
    assert _refusal(port, attestation(unknown, authorization)) == (422, "DEVICE_UNKNOWN")
    # A wrong ISO 6346 check digit.
    with pytest.raises(ValueError):
        attestation(device, authorization, containers=("CSQU3054384",))


def test_suspended_and_retired_devices_are_refused(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    suspend = port.client.post(
        "/devices/rpm-1/suspend", json={"reason": "failed daily check"}, headers=port.device_admin
    )
    assert suspend.status_code == 200, suspend.get_data()
    assert suspend.get_json()["state"] == "suspended"
    assert _refusal(port, attestation(device, authorization)) == (422, "DEVICE_SUSPENDED")
    # The suspension is on the authorisation's status list, for partners and auditors.
    entries = port.services.status.entries(authorization["id"])
    assert [e.value for e in entries if e.purpose == "suspension"] == [True]
    resume = port.client.post("/devices/rpm-1/resume", json={}, headers=port.device_admin)
    assert resume.status_code == 200
    assert port.submit(attestation(device, authorization))[0] == 201
    retire = port.client.post("/devices/rpm-1/retire", json={}, headers=port.device_admin)
    assert retire.status_code == 200
    assert _refusal(port, attestation(device, authorization)) == (422, "DEVICE_RETIRED")
    again = port.client.post("/devices/rpm-1/resume", json={}, headers=port.device_admin)
    assert again.status_code == 409
    entries = port.services.status.entries(authorization["id"])
    assert [e.value for e in entries if e.purpose == "revocation"] == [True]


def test_device_routes_need_the_device_admin_scope(port: Port) -> None:
    _, issuer_token = create_token(
        port.services.db,
        name="issuer",
        scopes=frozenset({"issuer"}),
        now=datetime.now(UTC),
        actor="test",
    )
    issuer = {"Authorization": f"Bearer {issuer_token}"}
    device = PrivateKey.generate()
    body = {"name": "x1", "device": device.public_key.did, "modalities": ["xray"], "site": SITE}
    assert port.client.post("/devices", json=body, headers=issuer).status_code == 403
    assert port.client.post("/devices", json=body).status_code == 401
    assert port.client.get("/devices", headers=issuer).status_code == 403
    # Generic issuance never signs a device authorisation, whatever the token.
    forged = port.client.post(
        "/credentials/issue",
        json={
            "credential": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential", "DeviceAuthorization"],
                "credentialSubject": {"id": device.public_key.did},
            }
        },
        headers=port.admin,
    )
    assert forged.status_code == 422
    # Duplicates and bad values are clean 400s.
    port.register(device, name="x1")
    again = port.client.post("/devices", json=body, headers=port.device_admin)
    assert again.status_code == 400
    assert again.get_json()["code"] == "DEVICE_EXISTS"
    for bad in (
        {**body, "name": "x2", "device": "did:web:example.com"},
        {**body, "name": "x3", "modalities": ["ultrasound"]},
        {**body, "name": "x4", "site": "rotterdam"},
        {**body, "name": "../x5"},
    ):
        response = port.client.post("/devices", json=bad, headers=port.device_admin)
        assert response.status_code == 400, (bad, response.get_data())
    listed = port.client.get("/devices", headers=port.device_admin)
    assert [d["name"] for d in listed.get_json()["devices"]] == ["x1"]


def test_device_cli_registers_lists_and_retires(
    node: tuple[NodeServices, str], tmp_path: Path
) -> None:
    services, _ = node
    exe = Path(sys.executable).parent / "trustlane"
    env = {**os.environ, "TRUSTLANE_DATABASE_URL": services.settings.database_url}
    base = ["--data-dir", str(services.settings.data_dir)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), "device", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    out = tmp_path / "rpm-7"
    registered = run(
        "register",
        *base,
        "--name",
        "rpm-7",
        "--modality",
        "rpm",
        "--site",
        SITE,
        "--calibration-due",
        "2030-01-01T00:00:00Z",
        "--out",
        str(out),
    )
    assert registered.returncode == 0, registered.stderr
    key_file = out / "device-key.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    facts = json.loads((out / "device.json").read_text())
    authorization = json.loads((out / "authorization.json").read_text())
    assert authorization["credentialSubject"]["id"] == facts["did"]
    assert authorization["credentialSubject"]["calibrationDue"] == "2030-01-01T00:00:00Z"
    # The same out directory again: refused before anything is registered.
    again = run(
        "register", *base, "--name", "rpm-8", "--modality", "rpm", "--site", SITE, "--out", str(out)
    )
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    bad_site = run(
        "register",
        *base,
        "--name",
        "rpm-9",
        "--modality",
        "rpm",
        "--site",
        "nowhere",
        "--out",
        str(tmp_path / "rpm-9"),
    )
    assert bad_site.returncode == 2 and "UN/LOCODE" in bad_site.stderr
    assert not (tmp_path / "rpm-9" / "device-key.json").exists()
    listed = run("list", *base, "--json")
    assert [d["name"] for d in json.loads(listed.stdout)] == ["rpm-7"]
    assert run("retire", "rpm-7", *base, "--reason", "decommissioned").returncode == 0
    assert run("resume", "rpm-7", *base).returncode == 2
    assert run("suspend", "no-such-device", *base).returncode == 2
    assert json.loads(run("list", *base, "--json").stdout)[0]["state"] == "retired"


def test_a_port_checks_bundles_with_what_it_trusts(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    status, bundle = port.submit(attestation(device, authorization))
    assert status == 201
    admin = port.admin

    def check(body: Any, headers: dict[str, str] | None = None) -> Any:
        response = port.client.post("/attestations/verify", json=body, headers=headers or admin)
        if response.status_code == 200:
            assert_matches_openapi(response, "post", "/attestations/verify")
        return response

    good = check({"bundle": bundle})
    assert good.status_code == 200
    assert good.get_json()["verified"] is True, good.get_json()
    assert good.get_json()["authorizationStatus"]["status"] == "pass"
    # Witnesses asked for and absent; a tampered scan result; garbage in the bundle.
    assert check({"bundle": bundle, "options": {"minWitnesses": 1}}).get_json()["verified"] is False
    forged = copy.deepcopy(bundle)
    forged["attestation"]["credentialSubject"]["scan"]["result"] = "alarm"
    body = check({"bundle": forged}).get_json()
    assert body["verified"] is False
    assert {s["step"] for s in body["steps"] if s["status"] == "fail"} >= {"device-proof"}
    assert check({"bundle": {"type": "nonsense"}}).get_json()["verified"] is False
    # A suspended device's bundles no longer count: the status check says why.
    port.client.post("/devices/rpm-1/suspend", json={}, headers=port.device_admin)
    body = check({"bundle": bundle}).get_json()
    assert body["verified"] is False
    assert body["authorizationStatus"]["status"] == "fail"
    # Bad requests and tokens.
    for bad in (
        {"bundle": bundle, "options": {"minWitnesses": -1}},
        {"bundle": bundle, "options": {"minWitnesses": True}},
        {"bundle": [bundle]},
        {},
    ):
        assert check(bad).status_code == 400, bad
    assert port.client.post("/attestations/verify", json={"bundle": bundle}).status_code == 401
    assert check({"bundle": bundle}, headers=port.device_admin).status_code == 403


def test_bundle_route_serves_the_latest_checkpoint(port: Port) -> None:
    device = PrivateKey.generate()
    authorization = port.register(device)
    _, first = port.submit(attestation(device, authorization))
    port.submit(attestation(device, authorization))
    attestation_id = first["attestation"]["id"]
    response = port.client.get(f"/scans/{attestation_id}/bundle", headers=port.device_admin)
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/scans/{attestationId}/bundle")
    later = response.get_json()
    assert later["log"]["attestation"]["treeSize"] > first["log"]["attestation"]["treeSize"]
    assert later["attestation"] == first["attestation"]
    # Not an attestation, unknown, or no token.
    for missing in (authorization["id"], "urn:uuid:0", "nonsense"):
        assert port.client.get(f"/scans/{missing}/bundle", headers=port.admin).status_code == 404
    assert port.client.get(f"/scans/{attestation_id}/bundle").status_code == 401
