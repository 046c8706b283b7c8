"""``trustlane device simulate`` against an in-process node (SQLite, PostgreSQL); its errors.

The device is registered through ``POST /devices`` and its directory written as
``trustlane device register`` writes it. The command then runs in process with its HTTP
poster swapped for one that posts to the Flask test client, so every scan is checked,
countersigned and logged by the real ``POST /scans``. The error cases need no node: their
device directory holds an unsigned authorisation (the command does not check its proof).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from credentials.keys import PrivateKey, key_pair_to_dict
from credentials.strict_json import JSONObject
from node.cli import device_simulate, main
from node.federation.fetcher import FetchError
from node.services.tokens import create_token
from node.wiring import NodeServices
from scan_attestation.attestation import build_device_authorization

SITE = "NLRTM"
MODALITIES = ["rpm", "spectroscopic-rpm", "xray"]
NODE_URL = "http://127.0.0.1:18443"


class FlaskPoster:
    """A ``device_simulate.Post`` over the test client that keeps what it sent."""

    def __init__(self, client: FlaskClient, base_url: str) -> None:
        self.client = client
        self.url = f"{base_url}/scans"
        self.sent: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, url: str, document: JSONObject) -> tuple[int, JSONObject]:
        assert url == self.url
        response = self.client.post(urlsplit(url).path, json=document)
        answer = (response.status_code, response.get_json())
        self.sent.append(document)
        self.answers.append(answer)
        return answer


def write_device_dir(
    out: Path, key: PrivateKey, authorization: JSONObject, *, node_did: str, node_url: str
) -> Path:
    out.mkdir()
    (out / "device-key.json").write_text(json.dumps(key_pair_to_dict(key)))
    (out / "authorization.json").write_text(json.dumps(authorization))
    facts = {
        "name": "portal-3",
        "did": key.public_key.did,
        "node": node_did,
        "nodeUrl": node_url,
        "authorization": authorization["id"],
    }
    (out / "device.json").write_text(json.dumps(facts))
    return out


def simulate(device: Path, *args: str) -> int:
    return main(["device", "simulate", "--device", str(device), *args])


def use_poster(monkeypatch: pytest.MonkeyPatch, post: device_simulate.Post) -> None:
    def http_poster(*, ca_bundle: str | None, timeout: float = 30.0) -> device_simulate.Post:
        assert ca_bundle is None
        return post

    monkeypatch.setattr(device_simulate, "http_poster", http_poster)


# -- against a node ----------------------------------------------------------------------------


@pytest.fixture
def device_admin(node: tuple[NodeServices, str]) -> dict[str, str]:
    _, token = create_token(
        node[0].db,
        name="scanner fleet",
        scopes=frozenset({"device-admin"}),
        now=datetime.now(UTC),
        actor="test",
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def device_dir(
    node: tuple[NodeServices, str],
    client: FlaskClient,
    device_admin: dict[str, str],
    tmp_path: Path,
) -> Path:
    services, _ = node
    key = PrivateKey.generate()
    response = client.post(
        "/devices",
        json={
            "name": "portal-3",
            "device": key.public_key.did,
            "modalities": MODALITIES,
            "site": SITE,
        },
        headers=device_admin,
    )
    assert response.status_code == 201, response.get_data()
    return write_device_dir(
        tmp_path / "portal-3",
        key,
        response.get_json()["deviceAuthorization"],
        node_did=services.identity.did,
        node_url=services.settings.base_url,
    )


def test_scans_are_accepted_then_refused_once_suspended(
    node: tuple[NodeServices, str],
    client: FlaskClient,
    device_admin: dict[str, str],
    device_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    poster = FlaskPoster(client, node[0].settings.base_url)
    use_poster(monkeypatch, poster)
    args = ("--count", "9", "--alarm-rate", "0.4", "--seed", "5", "--json", "--progress")
    assert simulate(device_dir, *args) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    alarms = sum(d["credentialSubject"]["scan"]["result"] == "alarm" for d in poster.sent)
    assert {k: summary[k] for k in ("submitted", "accepted", "refused", "alarms")} == {
        "submitted": 9,
        "accepted": 9,
        "refused": {},
        "alarms": alarms,
    }
    assert summary["seconds"] > 0 and summary["perSecond"] > 0
    assert "\rscans 9/9: 9 accepted, 0 refused" in err and err.endswith("\n")
    assert [status for status, _ in poster.answers] == [201] * 9
    assert all(body["type"] == "ScanAttestationBundle" for _, body in poster.answers)
    device = json.loads((device_dir / "device.json").read_text())
    modalities = set()
    for sent in poster.sent:
        assert sent["issuer"] == device["did"]
        assert sent["proof"]["created"] == sent["validFrom"]
        subject: dict[str, Any] = sent["credentialSubject"]
        assert subject["deviceAuthorization"] == device["authorization"]
        assert subject["site"] == SITE
        modalities.add(subject["scan"]["modality"])
    assert len(modalities) >= 2
    # The same seed again: the same consignments under new ids, so no replay refusal.
    first = [d["credentialSubject"]["consignment"] for d in poster.sent]
    assert simulate(device_dir, *args) == 0
    capsys.readouterr()
    assert [d["credentialSubject"]["consignment"] for d in poster.sent[9:]] == first
    # Every scan alarms at rate 1; the summary is one line on stdout.
    assert simulate(device_dir, "--count", "2", "--alarm-rate", "1") == 0
    out, err = capsys.readouterr()
    assert out.endswith(": 2 accepted, 0 refused; 2 alarms\n") and out.count("\n") == 1
    assert err == ""  # no progress: stderr is no terminal here

    suspended = client.post("/devices/portal-3/suspend", json={}, headers=device_admin)
    assert suspended.status_code == 200
    assert simulate(device_dir, "--count", "3") == 1
    out, _ = capsys.readouterr()
    assert "0 accepted, 3 refused (DEVICE_SUSPENDED 3)" in out
    assert [status for status, _ in poster.answers[-3:]] == [422, 422, 422]
    assert simulate(device_dir, "--count", "2", "--json") == 1
    assert json.loads(capsys.readouterr().out)["refused"] == {"DEVICE_SUSPENDED": 2}


# -- errors, without a node ------------------------------------------------------------------


@pytest.fixture
def offline_dir(tmp_path: Path) -> Path:
    key = PrivateKey.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    authorization = build_device_authorization(
        credential_id="urn:uuid:2d0e5a8c-4b1f-4f3e-9c6d-7a8b9c0d1e2f",
        issuer="did:web:customs.example",
        device=key.public_key.did,
        name="portal-3",
        modalities=tuple(MODALITIES),
        site=SITE,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
        calibration_due=None,
    )
    return write_device_dir(
        tmp_path / "offline",
        key,
        authorization,
        node_did="did:web:customs.example",
        node_url=NODE_URL,
    )


def test_a_bad_device_directory_is_one_line_and_exit_2(
    offline_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(tmp_path / "no-such-device", "--count", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such device directory" in err
    key = offline_dir / "device-key.json"
    good = key.read_text()
    for broken in (
        "{",
        '{"privateKeyMultibase": "z123"}',
        json.dumps(key_pair_to_dict(PrivateKey.generate())),
    ):
        key.write_text(broken)
        assert simulate(offline_dir, "--count", "1") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("trustlane: error: "), err
    key.write_text(good)
    (offline_dir / "authorization.json").write_text('{"type": "nothing"}')
    assert simulate(offline_dir, "--count", "1") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "authorization.json" in err
    (offline_dir / "authorization.json").unlink()
    assert simulate(offline_dir, "--count", "1") == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--count", "0"), "--count must be between 1 and 100000"),
        (("--count", "100001"), "--count must be between 1 and 100000"),
        (("--count", "1", "--alarm-rate", "2"), "--alarm-rate must be between 0 and 1"),
        (("--count", "1", "--node", "http://customs.example"), "must use https"),
        (("--count", "1", "--ca-bundle", "/nonexistent/ca.pem"), "no such CA bundle"),
    ],
    ids=["count-0", "count-too-many", "rate", "plain-http", "ca-bundle"],
)
def test_bad_usage_is_exit_2(
    offline_dir: Path, args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(offline_dir, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_an_unreachable_node_is_exit_2_without_traceback(
    offline_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: list[JSONObject] = []

    def failing(url: str, document: JSONObject) -> tuple[int, JSONObject]:
        if len(sent) == 2:
            raise FetchError(f"{url}: ConnectionError")
        sent.append(document)
        return 201, {}

    use_poster(monkeypatch, failing)
    assert simulate(offline_dir, "--count", "5") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ConnectionError (after 2 of 5 scans)" in err, err
    # A redirect is not followed.
    use_poster(monkeypatch, lambda url, document: (308, {}))
    assert simulate(offline_dir, "--count", "2") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "redirect" in err
    # Refusals without a problem code count under the HTTP status.
    use_poster(monkeypatch, lambda url, document: (503, {"code": "bad\ncode"}))
    assert simulate(offline_dir, "--count", "2", "--json") == 1
    assert json.loads(capsys.readouterr().out)["refused"] == {"HTTP_503": 2}


def test_the_requests_poster_reports_a_closed_port(
    offline_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on the discard port of this machine: connection refused, at once.
    assert simulate(offline_dir, "--count", "1", "--node", "http://127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "127.0.0.1:9/scans" in err, err
