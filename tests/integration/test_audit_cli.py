"""`trustlane audit bundle` and `audit log` against a real node (SQLite, PostgreSQL).

A device-admin registers a portal monitor, the device submits scans, and the auditor checks
the bundle the node answered with offline, then a later checkpoint with the node's
consistency proof. `audit log` runs against the node's Flask app through a fetch function
that calls the test client instead of the network: the log rebuilds to the checkpoint's
root, extends an older checkpoint, and a tampered entry bundle or a missing tile is caught.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from node.cli import audit_cmd, main
from node.federation.fetcher import FetchError, PeerHTTPError
from node.services.tokens import create_token
from node.wiring import NodeServices
from scan_attestation.attestation import build_scan_attestation, sign_as_device

BASE = "http://127.0.0.1:18443"  # the node fixture's base URL


def _scan_once(client: FlaskClient, key: PrivateKey, authorization_id: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    unsigned = build_scan_attestation(
        attestation_id=f"urn:uuid:{uuid.uuid4()}",
        device=key.public_key.did,
        authorization_id=authorization_id,
        site="NLRTM",
        scan={
            "format": "n42",
            "modality": "rpm",
            "scanTime": format_datetime(now),
            "result": "clear",
            "rawSha256": hashlib.sha256(b"raw").hexdigest(),
            "parserNotes": [],
        },
        containers=("CSQU3054383",),
    )
    response = client.post("/scans", json=sign_as_device(unsigned, key, created=now))
    assert response.status_code == 201, response.get_data()
    bundle: dict[str, Any] = response.get_json()
    return bundle


@pytest.fixture
def scans(
    node: tuple[NodeServices, str], client: FlaskClient, tmp_path: Path
) -> Callable[[], dict[str, Any]]:
    """Register a device and write the trust file; each call submits one scan."""
    services, _ = node
    _, token = create_token(
        services.db,
        name="fleet",
        scopes=frozenset({"device-admin"}),
        now=datetime.now(UTC),
        actor="test",
    )
    device = PrivateKey.generate()
    response = client.post(
        "/devices",
        json={
            "name": "rpm-1",
            "device": device.public_key.did,
            "modalities": ["rpm"],
            "site": "NLRTM",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.get_data()
    authorization_id = response.get_json()["deviceAuthorization"]["id"]
    keys = [r.public_key_multibase for r in services.identity.keys(fresh=True)]
    (tmp_path / "trust.json").write_text(json.dumps({services.identity.did: keys}))
    return lambda: _scan_once(client, device, authorization_id)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_bundle_of_a_real_scan(
    scans: Callable[[], dict[str, Any]],
    client: FlaskClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = scans()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    trust = str(tmp_path / "trust.json")
    code, out, err = run(capsys, "audit", "bundle", str(tmp_path / "bundle.json"), "--trust", trust)
    assert (code, err) == (0, ""), out
    assert [line[:4] for line in out.splitlines()] == ["ok  "] * 7 + ["skip"]
    assert "ok   witnesses: 0 of 0 trusted witnesses cosigned" in out

    # Two more scans later, the node's newer checkpoint and its consistency proof.
    scans()
    scans()
    newer = client.get("/checkpoint").get_data()
    (tmp_path / "newer.txt").write_bytes(newer)
    old_size = bundle["log"]["attestation"]["treeSize"]
    new_size = int(newer.split(b"\n")[1])
    proof = client.get(f"/log/proof/consistency?first={old_size}&second={new_size}").get_json()
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    args = ["audit", "bundle", str(tmp_path / "bundle.json"), "--trust", trust]
    args += ["--checkpoint", str(tmp_path / "newer.txt")]
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    last = json.loads(out)["steps"][-1]
    assert (last["step"], last["status"]) == ("consistency", "skipped")
    code, out, _ = run(capsys, *args, "--proof", str(tmp_path / "proof.json"), "--json")
    assert code == 0
    last = json.loads(out)["steps"][-1]
    assert last["status"] == "ok"
    assert f"consistent from size {old_size} to {new_size}" in last["detail"]
    # More witnesses than the node has: the named step fails, exit 1.
    code, out, _ = run(capsys, *args, "--min-witnesses", "1")
    assert code == 1
    assert "FAIL witnesses: 0 of 0 trusted witnesses cosigned; at least 1 required" in out


def _client_fetch(
    client: FlaskClient, tamper: Callable[[str, bytes], bytes] = lambda _, body: body
) -> Callable[..., Callable[[str], bytes]]:
    def factory(**_: Any) -> Callable[[str], bytes]:
        def fetch(url: str) -> bytes:
            assert url.startswith(BASE + "/")
            response = client.get(url.removeprefix(BASE))
            if response.status_code != 200:
                raise PeerHTTPError(f"GET {url} answered HTTP {response.status_code}", 404)
            return tamper(url, response.get_data())

        return fetch

    return factory


def test_audit_log_rebuilds_the_node_log(
    scans: Callable[[], dict[str, Any]],
    client: FlaskClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scans()
    (tmp_path / "old.txt").write_bytes(client.get("/checkpoint").get_data())
    scans()
    trust = str(tmp_path / "trust.json")
    monkeypatch.setattr(audit_cmd, "http_fetch", _client_fetch(client))
    args = ["audit", "log", BASE, "--trust", trust]
    code, out, err = run(
        capsys, *args, "--from-checkpoint", str(tmp_path / "old.txt"), "--json", "--progress"
    )
    assert code == 0, out
    report = json.loads(out)
    assert [(s["step"], s["status"]) for s in report["steps"]] == [
        ("checkpoint", "ok"),
        ("entries", "ok"),
        ("tree", "ok"),
        ("from-checkpoint", "ok"),
    ]
    types = report["entryTypes"]
    assert types["ScanAttestation"] == 2
    assert types["DeviceAuthorization"] == 1
    assert "BitstringStatusListCredential" in types
    assert sum(types.values()) == report["size"]
    assert err.endswith(f"\rentries {report['size']}/{report['size']}\n")

    # A node that serves other entries than it signed a checkpoint for.
    def flip(url: str, body: bytes) -> bytes:
        return body.replace(b"ScanAttestation", b"ScanAttestatioN") if "/entries/" in url else body

    monkeypatch.setattr(audit_cmd, "http_fetch", _client_fetch(client, flip))
    code, out, _ = run(capsys, *args)
    assert code == 1
    assert "FAIL tree: the rebuilt root of size" in out

    # A node that does not serve its tiles: no verdict, one line, exit 2.
    def missing(url: str, body: bytes) -> bytes:
        if "/entries/" in url:
            raise FetchError(f"GET {url} answered HTTP 404")
        return body

    monkeypatch.setattr(audit_cmd, "http_fetch", _client_fetch(client, missing))
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "")
    assert err.startswith("trustlane: error: GET http://127.0.0.1:18443/tile/entries/000.p/")
    assert err.count("\n") == 1

    # Without the node's keys nothing verifies; plain http off loopback is refused.
    monkeypatch.setattr(audit_cmd, "http_fetch", _client_fetch(client))
    (tmp_path / "other.json").write_text(
        json.dumps({"did:web:127.0.0.1%3A18443": [PrivateKey.generate().public_key.multibase]})
    )
    code, out, _ = run(capsys, "audit", "log", BASE, "--trust", str(tmp_path / "other.json"))
    assert code == 1
    assert out.startswith("FAIL checkpoint: checkpoint has no signature by the log key")
    code, _, err = run(capsys, "audit", "log", "http://customs.example", "--trust", trust)
    assert code == 2
    assert "must use https" in err
