"""Origin scans at three real nodes (EU, US, JP) over HTTPS on loopback.

An EU radiation portal (ANSI N42.42 sample) and an X-ray scanner scan a trader's containers;
EU checks the devices, countersigns and logs; its sync round has US and JP cosign the
checkpoint. The bundle is presented at US, which checks it with what it trusts; an auditor
checks it offline with the three nodes' keys. A tampered bundle, a device scanning outside
its authorisation, a device past its calibration date and EU showing US a rewritten log (a
split view) are each caught.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from federation3 import node_key, sync, three_nodes
from federation_config.loader import load
from node.cli import main
from node.keystore import KeyStore, read_passphrase
from nodeproc import NodeProcess
from scan_attestation.adapters import parse_scan
from scan_attestation.attestation import build_scan_attestation, sign_as_device
from scan_attestation.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from scan_attestation.log_entry import log_origin
from scan_attestation.note import parse_note
from support import VECTORS

SITE = "NLRTM"


def _register(
    eu: NodeProcess, key: PrivateKey, name: str, modalities: list[str], **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "device": key.public_key.did, "modalities": modalities, "site": SITE}
    status, answer = eu.post_json("/devices", {**body, **extra}, eu.admin_token)
    assert status == 201, answer
    authorization: dict[str, Any] = answer["deviceAuthorization"]
    return authorization


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _n42_scan() -> Any:
    scan = parse_scan((VECTORS / "n42" / "AnnexE.n42").read_bytes()).to_json()
    scan["scanTime"] = format_datetime(_now())  # the sample's instrument, scanned today
    return scan


def _xray_scan() -> Any:
    image = b"II*\x00 the radiograph of two containers"
    record = {
        "scannerId": "NII-NLRTM-07",
        "scanTime": format_datetime(_now()),
        "containerIds": ["YMLU3030933", "CSQU3054383"],
        "imageDigest": "sha256:" + hashlib.sha256(image).hexdigest(),
        "algorithm": {"name": "ThreatFinder", "version": "4.1.0", "verdict": "clear"},
    }
    return parse_scan(json.dumps(record).encode()).to_json()


def _attestation(
    key: PrivateKey, authorization: dict[str, Any], scan: Any, containers: tuple[str, ...]
) -> dict[str, Any]:
    unsigned = build_scan_attestation(
        attestation_id=f"urn:uuid:{uuid.uuid4()}",
        device=key.public_key.did,
        authorization_id=authorization["id"],
        site=SITE,
        scan=scan,
        containers=containers,
        seals=("NL7712345",),
        transport_document="MAEU240512345",
    )
    signed: dict[str, Any] = sign_as_device(unsigned, key, created=_now())
    return signed


def _present(us: NodeProcess, bundle: Any, witnesses: int) -> dict[str, Any]:
    """Verify at US; a status list US has not held yet is fetched in the background."""
    request = {"bundle": bundle, "options": {"minWitnesses": witnesses}}
    deadline = time.monotonic() + 15
    while True:
        status, body = us.post_json("/attestations/verify", request, us.admin_token)
        assert status == 200, body
        pending = (body.get("authorizationStatus") or {}).get("status") == "unknown"
        if not pending or time.monotonic() > deadline:
            result: dict[str, Any] = body
            return result
        time.sleep(0.2)


def _failed(body: dict[str, Any]) -> set[str]:
    return {s["step"] for s in body["steps"] if s["status"] == "fail"}


def test_origin_scans_reach_a_foreign_port_and_an_auditor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with three_nodes(tmp_path) as (nodes, _):
        eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
        portal, scanner, overdue = (PrivateKey.generate() for _ in range(3))
        due = format_datetime(_now() + timedelta(days=90))
        portal_auth = _register(
            eu, portal, "nlrtm-rpm-1", ["rpm", "spectroscopic-rpm"], calibrationDue=due
        )
        scanner_auth = _register(eu, scanner, "nlrtm-nii-7", ["xray"])
        past = format_datetime(_now() - timedelta(days=1))
        overdue_auth = _register(eu, overdue, "nlrtm-rpm-2", ["rpm"], calibrationDue=past)

        status, radiation = eu.post_json(
            "/scans", _attestation(portal, portal_auth, _n42_scan(), ("YMLU3030933",))
        )
        assert status == 201, radiation
        assert radiation["attestation"]["credentialSubject"]["scan"]["result"] == "alarm"
        status, image = eu.post_json(
            "/scans",
            _attestation(scanner, scanner_auth, _xray_scan(), ("YMLU3030933", "CSQU3054383")),
        )
        assert status == 201, image

        # Devices outside their authorisation: the portal attests an X-ray image; the overdue
        # portal scans after its calibration due date.
        status, refused = eu.post_json(
            "/scans", _attestation(portal, portal_auth, _xray_scan(), ("CSQU3054383",))
        )
        assert (status, refused["code"]) == (422, "DEVICE_NOT_AUTHORIZED"), refused
        scan = _n42_scan()
        scan["modality"] = "rpm"
        status, refused = eu.post_json(
            "/scans", _attestation(overdue, overdue_auth, scan, ("YMLU3030933",))
        )
        assert (status, refused["code"]) == (422, "DEVICE_NOT_AUTHORIZED"), refused
        assert "calibration" in refused["detail"]

        # EU's sync round: US and JP cosign its checkpoint.
        outcomes = [o for o in sync(eu) if o["resource"] == "cosign"]
        assert len(outcomes) == 2 and all(o["ok"] for o in outcomes), outcomes
        attestation_id = image["attestation"]["id"]
        status, cosigned, _ = eu.get_json(f"/scans/{attestation_id}/bundle", eu.admin_token)
        assert status == 200, cosigned
        assert cosigned["log"]["attestation"]["treeSize"] >= image["log"]["attestation"]["treeSize"]

        # At the US port: US trusts EU, and is itself one witness (JP is not its partner).
        body = _present(us, cosigned, witnesses=1)
        assert body["verified"], body
        assert body["authorizationStatus"]["status"] == "pass"
        assert not _present(us, cosigned, witnesses=2)["verified"]
        tampered = copy.deepcopy(cosigned)
        tampered["attestation"]["credentialSubject"]["consignment"]["containers"] = ["CSQU3054383"]
        body = _present(us, tampered, witnesses=0)
        assert not body["verified"]
        assert {"device-proof", "inclusion"} <= _failed(body), body

        # The auditor, offline, with the three nodes' keys pinned: two witnesses.
        trust = tmp_path / "trust.json"
        trust.write_text(json.dumps({n.did: [node_key(n)] for n in (eu, us, jp)}))
        good, bad = tmp_path / "bundle.json", tmp_path / "tampered.json"
        good.write_text(json.dumps(cosigned))
        bad.write_text(json.dumps(tampered))
        capsys.readouterr()
        args = ["audit", "bundle", "--trust", str(trust), "--min-witnesses", "2"]
        assert main([*args, str(good)]) == 0, capsys.readouterr()
        assert main([*args, str(bad)]) == 1
        assert "FAIL device-proof" in capsys.readouterr().out

        # EU's operator rewrites history: with EU's own key it signs another tree of the size
        # US cosigned and shows it to US. US refuses it and raises a split-view alert.
        status, before, _ = us.get_json("/health")
        assert (status, before["splitViewAlerts"]) == (200, 0)
        published = parse_checkpoint(parse_note(eu_checkpoint(eu)).text)
        origin = log_origin(eu.did)
        fork = sign_checkpoint(
            Checkpoint(origin=origin, size=published.size, root=b"\x05" * 32),
            origin,
            _node_signing_key(eu),
        )
        with us.session() as http:
            answer = http.post(
                us.url("/add-checkpoint"),
                data=f"old {published.size}\n\n{fork}".encode(),
                headers={"Content-Type": "text/plain"},
                timeout=10,
            )
        assert answer.status_code == 422, answer.text
        status, after, _ = us.get_json("/health")
        assert (status, after["splitViewAlerts"]) == (200, 1)


def eu_checkpoint(node: NodeProcess) -> str:
    with node.session() as http, http.get(node.url("/checkpoint"), timeout=10) as response:
        assert response.status_code == 200
        return response.text


def _node_signing_key(node: NodeProcess) -> PrivateKey:
    """The node's current key, read from its key store as its operator could."""
    settings = load(node.data_dir, os.environ)
    assert settings.keystore_dir is not None
    passphrase = read_passphrase(
        env_var=settings.passphrase_env, file=settings.passphrase_file, environ=os.environ
    )
    store = KeyStore.open(settings.keystore_dir, passphrase)
    return store.load(sorted(store.kids())[-1])
