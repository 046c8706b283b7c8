"""Real ``trustlane node`` processes over HTTPS (trustme CA) on SQLite and PostgreSQL.

Issue, verify, revoke; restart and find the same state; rotate and revoke keys from the CLI
while the node is stopped; refuse plain HTTP on a public base URL; issue concurrently from
several threads against two gunicorn workers. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
import requests
import trustme

from federation_config.settings import NodeSettings
from node.storage import status_alloc_repo
from node.wiring import init_node
from nodehelpers import aeo_subject, close_services
from nodeproc import NodeProcess, is_listening, run_cli


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _issue(node: NodeProcess) -> dict[str, Any]:
    status, body = node.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, node.admin_token
    )
    assert status == 201, body
    vc: dict[str, Any] = body["verifiableCredential"]
    return vc


def _verify(node: NodeProcess, vc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, body = node.post_json(
        "/credentials/verify", {"verifiableCredential": vc}, node.admin_token
    )
    return status, body


def _check(result: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in result["checks"] if c["name"] == name]
    assert found, result
    check: dict[str, Any] = found[0]
    return check


def _revoke(node: NodeProcess, vc: dict[str, Any]) -> dict[str, Any]:
    status, body = node.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        node.admin_token,
    )
    assert status == 200, body
    assert body["changed"] is True
    result: dict[str, Any] = body
    return result


def _entry(vc: dict[str, Any], purpose: str) -> dict[str, Any]:
    entries = [e for e in vc["credentialStatus"] if e["statusPurpose"] == purpose]
    assert len(entries) == 1, vc["credentialStatus"]
    entry: dict[str, Any] = entries[0]
    return entry


def _local_path(node: NodeProcess, url: str) -> str:
    assert url.startswith(node.base_url + "/"), url
    return url[len(node.base_url) :]


def _audit(node: NodeProcess) -> dict[str, Any]:
    done = node.cli("audit-verify", "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_issue_revoke_restart_rotate_compromise(
    tmp_path: Path, database_url: str, ca: trustme.CA
) -> None:
    with NodeProcess(tmp_path / "eu") as node:
        did, _ = node.init(database_url, ca)
        assert node.base_url.startswith("https://127.0.0.1:")
        assert did == f"did:web:127.0.0.1%3A{node.port}"
        baseline = _audit(node)
        assert baseline["ok"] is True

        # -- first run: issue, verify, revoke -------------------------------------
        node.start(workers=2)
        revoked_vc = _issue(node)
        kept_vc = _issue(node)  # stays valid: checked again after key rotation
        assert revoked_vc["proof"]["verificationMethod"] == f"{did}#key-1"
        status, ok = _verify(node, revoked_vc)
        assert status == 200, ok
        assert ok["verified"] is True
        change = _revoke(node, revoked_vc)
        revocation = _entry(revoked_vc, "revocation")
        assert change["statusListCredential"] == revocation["statusListCredential"]
        status, bad = _verify(node, revoked_vc)
        assert status == 422, bad
        assert bad["verified"] is False
        status_check = _check(bad, "status")
        assert (status_check["status"], status_check.get("code")) == ("fail", "REVOKED")

        list_path = _local_path(node, revocation["statusListCredential"])
        code, list_doc, list_headers = node.get_json(list_path)
        assert code == 200
        etag_before = list_headers["ETag"]
        code, did_doc_before, _ = node.get_json("/.well-known/did.json")
        assert code == 200
        assert node.stop() == 0, node.log_tail()
        assert not is_listening(node.port)

        # -- audit chain (node stopped): issuance and revocation are recorded ---------
        report = _audit(node)
        assert report["ok"] is True
        assert report["problem"] is None
        assert report["events"] >= baseline["events"] + 3  # 2 issuances + 1 revocation

        # -- second run: same state after restart ---------------------------------------
        node.start(workers=2)
        status, bad = _verify(node, revoked_vc)
        assert status == 422, bad
        assert _check(bad, "status").get("code") == "REVOKED"
        status, ok = _verify(node, kept_vc)
        assert status == 200, ok
        code, stored, _ = node.get_json(f"/credentials/{revoked_vc['id']}", node.admin_token)
        assert code == 200, stored
        assert stored["verifiableCredential"] == revoked_vc
        assert {
            (s["statusPurpose"], s["status"], s["statusListIndex"]) for s in stored["status"]
        } == {
            ("revocation", True, revocation["statusListIndex"]),
            ("suspension", False, _entry(revoked_vc, "suspension")["statusListIndex"]),
        }
        code, did_doc_after, _ = node.get_json("/.well-known/did.json")
        assert did_doc_after == did_doc_before
        code, list_doc_after, list_headers_after = node.get_json(list_path)
        assert code == 200
        assert list_headers_after["ETag"] == etag_before
        assert list_doc_after == list_doc
        with (
            node.session() as http,
            http.get(
                node.url(list_path), headers={"If-None-Match": etag_before}, timeout=10.0
            ) as cached,
        ):
            assert cached.status_code == 304
        assert node.stop() == 0, node.log_tail()

        # -- key rotation from the CLI while stopped ------------------------------------
        rotated = node.cli("rotate-key", "--json")
        assert rotated.returncode == 0, rotated.stderr
        rotation = json.loads(rotated.stdout)
        assert rotation["current"] == "key-2" and rotation["published"] is True, rotation
        assert rotation["acknowledgedBy"] == [] and rotation["notAcknowledgedBy"] == []
        node.start(workers=2)
        new_vc = _issue(node)
        assert new_vc["proof"]["verificationMethod"].endswith("#key-2")
        assert new_vc["proof"]["verificationMethod"] == f"{did}#key-2"
        for vc in (kept_vc, new_vc):
            status, ok = _verify(node, vc)
            assert status == 200, ok
        code, did_doc, _ = node.get_json("/.well-known/did.json")
        listed = [vm["id"] for vm in did_doc["verificationMethod"]]
        assert listed == [f"{did}#key-1", f"{did}#key-2"]
        assert did_doc["assertionMethod"] == listed
        assert did_doc["authentication"] == [f"{did}#key-2"]
        assert node.stop() == 0, node.log_tail()

        # -- key-1 compromised since before the old credentials were issued -------------
        since = _parse_time(revoked_vc["proof"]["created"]) - timedelta(seconds=1)
        marked = node.cli("revoke-key", "key-1", "--compromised-since", _fmt(since))
        assert marked.returncode == 0, marked.stderr
        node.start(workers=2)
        status, bad = _verify(node, kept_vc)
        assert status == 422, bad
        proof_check = _check(bad, "proof")
        assert (proof_check["status"], proof_check.get("code")) == ("fail", "KEY_COMPROMISED")
        status, ok = _verify(node, new_vc)
        assert status == 200, ok
        code, did_doc, _ = node.get_json("/.well-known/did.json")
        key1 = did_doc["verificationMethod"][0]
        assert key1["id"] == f"{did}#key-1"
        assert _parse_time(key1["revoked"]) == since
        assert node.stop() == 0, node.log_tail()

        final = _audit(node)
        assert final["ok"] is True
        # + key.added (rotation), 1 issuance, key.compromised
        assert final["events"] >= report["events"] + 3


def test_plain_http_on_public_base_url_is_refused(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "public")
    port = node.port
    node.init(None, None, base_url=f"http://customs.example:{port}")
    started = time.monotonic()
    done = run_cli(
        "node",
        "serve",
        "--data-dir",
        str(node.data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        timeout=15.0,
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert elapsed < 10.0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "TLS" in lines[0]
    assert "Traceback" not in done.stderr
    assert not is_listening(port)


def test_concurrent_issuance_two_workers(tmp_path: Path, database_url: str, ca: trustme.CA) -> None:
    threads_n, per_thread = 4, 5
    with NodeProcess(tmp_path / "eu") as node:
        node.init(database_url, ca)
        node.start(workers=2)
        results: list[tuple[int, Any]] = []
        failures: list[BaseException] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads_n, timeout=30.0)

        def work() -> None:
            try:
                with node.session(node.admin_token) as http:
                    barrier.wait()
                    for _ in range(per_thread):
                        with http.post(
                            node.url("/aeo-credentials"),
                            json={"credentialSubject": aeo_subject()},
                            timeout=60.0,
                        ) as response:
                            item = (response.status_code, response.json())
                        with lock:
                            results.append(item)
            except (requests.RequestException, threading.BrokenBarrierError, ValueError) as e:
                with lock:
                    failures.append(e)

        threads = [threading.Thread(target=work) for _ in range(threads_n)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 90.0
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "issuing threads did not finish"
        assert not failures, failures
        assert len(results) == threads_n * per_thread
        refused = [body for code, body in results if code != 201]
        assert not refused, refused
        vcs = [body["verifiableCredential"] for _, body in results]
        assert len({vc["id"] for vc in vcs}) == len(vcs)
        entries = [
            (e["statusListCredential"], e["statusListIndex"])
            for vc in vcs
            for e in vc["credentialStatus"]
        ]
        assert len(entries) == 2 * len(vcs)
        assert len(set(entries)) == len(entries)
        assert node.log_tail(200).count("Booting worker") >= 2
        assert node.stop() == 0, node.log_tail()


# Regression: two issuing transactions in one list used to deadlock on PostgreSQL (the
# entry insert took a key-share lock on the list row, then FOR UPDATE was requested on it).
def test_two_issuing_transactions_in_one_list_postgresql(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic form of the deadlock: both transactions pause after allocating."""
    settings = NodeSettings(
        name="EU customs",
        base_url="http://127.0.0.1:18443",
        data_dir=tmp_path / "node",
        database_url=pg_url,
    )
    services, _ = init_node(
        settings,
        {},
        now=datetime.now(UTC),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    try:
        # The first issuance opens (and publishes) the lists.
        services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
        original = status_alloc_repo.allocate_index
        barrier = threading.Barrier(2, timeout=5.0)

        def paused(conn: Any, **kwargs: Any) -> tuple[str, int, bool]:
            found = original(conn, **kwargs)
            if kwargs.get("purpose") == "revocation":
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
            return found

        monkeypatch.setattr(status_alloc_repo, "allocate_index", paused)
        errors: list[BaseException] = []

        def issue() -> None:
            try:
                services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=issue) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30.0
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads)
        assert not errors, [getattr(e, "__cause__", e) for e in errors]
    finally:
        close_services(services)


def test_cli_missing_data_dir_is_one_line(tmp_path: Path) -> None:
    done = run_cli("node", "serve", "--data-dir", str(tmp_path / "nothing"), timeout=15.0)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
