"""Issue 14 on three real nodes: EU rotates its key twice while US and JP verify.

EU, US and JP run as real processes over HTTPS (SQLite); EU has agreements with both. While
one thread at US and one at JP keep verifying an EU credential issued before the rotations,
EU runs ``trustlane node rotate-key`` twice in a row (announce, acknowledgements, publish).
No verification in between may answer anything but "verified with benefits": a rotation
must never make a partner distrust EU, even for a moment. After each rotation, a credential
EU signs with the new key verifies at both partners (how long that takes is the fetch of
EU's new DID document, bounded here at 10 s).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from federation3 import RECOGNISED, sign_mra, three_nodes, verify, wait_for
from nodehelpers import aeo_subject
from nodeproc import NodeProcess

pytestmark = pytest.mark.slow

LOAD_SECONDS = 120.0  # the load threads stop at the latest after this


def _issue(eu: NodeProcess) -> dict[str, Any]:
    status, body = eu.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, eu.admin_token
    )
    assert status == 201, body
    vc: dict[str, Any] = body["verifiableCredential"]
    return vc


def _load(
    port: NodeProcess, vc: dict[str, Any], stop: threading.Event, seen: list[tuple[int, Any]]
) -> None:
    """Verify ``vc`` at ``port`` until told to stop (bounded); record every answer."""
    deadline = time.monotonic() + LOAD_SECONDS
    with port.session(port.admin_token) as http:
        while not stop.is_set() and time.monotonic() < deadline:
            answer = http.post(
                port.url("/credentials/verify"), json={"verifiableCredential": vc}, timeout=10
            )
            body = answer.json()
            seen.append((answer.status_code, body.get("benefits")))
            if answer.status_code != 200:
                seen.append((answer.status_code, body))
            time.sleep(0.02)


def test_two_rotations_under_verification_load(tmp_path: Path) -> None:
    with three_nodes(tmp_path) as (nodes, _):
        eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
        sign_mra(eu, us)
        sign_mra(eu, jp)
        before = _issue(eu)
        for port in (us, jp):
            status, result = verify(port, before)
            assert status == 200 and result["benefits"] == sorted(RECOGNISED), result

        stop = threading.Event()
        seen: dict[str, list[tuple[int, Any]]] = {"us": [], "jp": []}
        threads = [
            threading.Thread(target=_load, args=(port, before, stop, seen[name]), daemon=True)
            for name, port in (("us", us), ("jp", jp))
        ]
        for thread in threads:
            thread.start()
        try:
            for expected in ("key-2", "key-3"):
                done = eu.cli("rotate-key", "--ack-timeout", "20", "--json")
                assert done.returncode == 0, done.stderr
                report = json.loads(done.stdout)
                assert report["current"] == expected, report
                assert sorted(report["acknowledgedBy"]) == sorted([us.did, jp.did]), report
                assert report["notAcknowledgedBy"] == [], report
                fresh = _issue(eu)
                assert fresh["proof"]["verificationMethod"] == f"{eu.did}#{expected}"
                for port in (us, jp):
                    wait_for(
                        lambda port=port, fresh=fresh: verify(port, fresh)[0] == 200,
                        10.0,
                        f"a {expected} credential at {port.name}",
                    )
                    assert verify(port, fresh)[1]["benefits"] == sorted(RECOGNISED)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)

        for name, answers in seen.items():
            assert len(answers) >= 10, (name, len(answers))
            refused = [a for a in answers if a[0] != 200 or a[1] != sorted(RECOGNISED)]
            assert refused == [], (name, refused[:3])
        for port in (us, jp):
            status, peers, _ = port.get_json("/registry/peers", port.admin_token)
            assert status == 200
            (eu_peer,) = [p for p in peers["peers"] if p["did"] == eu.did]
            assert eu_peer["trusted"] is True, eu_peer
