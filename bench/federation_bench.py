"""Revocation propagation among three real nodes (EU, US, JP) on loopback.

For each revocation: the time from EU's answer to the revoking call until both US and JP
refuse the credential (their verify answers status REVOKED), with push enabled; and with
push disabled, where they learn from their scheduled pull (interval 5 s, jitter 1 s).
Reports p50 and p99.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.http_bench import SUBJECT, _free_port, _request

EXE = str(Path(sys.executable).parent / "trustlane")


def _cli(*args: str) -> str:
    done = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    return done.stdout


class _Node:
    def __init__(self, root: Path, name: str) -> None:
        self.name, self.port = name, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = root / name
        out = json.loads(
            _cli(
                "node",
                "init",
                "--data-dir",
                str(self.data),
                "--name",
                name,
                "--base-url",
                self.base,
                "--json",
            )
        )
        self.did, self.token = out["did"], out["adminToken"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data / "serve.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: S603
            [EXE, "node", "serve", "--data-dir", str(self.data), "--workers", "2"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "GUNICORN_CMD_ARGS": "--access-logfile=/dev/null"},
        )
        for _ in range(200):
            try:
                if _request(self.port, "GET", "/health/live", None, None)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            self.proc = None

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, data = _request(self.port, "POST", path, json.dumps(body).encode(), self.token)
        return status, json.loads(data)

    def key(self) -> str:
        _, data = _request(self.port, "GET", "/.well-known/did.json", None, None)
        key: str = json.loads(data)["verificationMethod"][0]["publicKeyMultibase"]
        return key


def _federation(node: _Node, peers: list[tuple[_Node, str]], push: bool) -> None:
    text = '[federation]\nname = "bench"\n[sync]\ninterval_seconds = 5\njitter_seconds = 1\n'
    text += f"[push]\nenabled = {'true' if push else 'false'}\n"
    for peer, key in peers:
        text += f'[[peers]]\nname = "{peer.name}"\ndid = "{peer.did}"\nbase_url = "{peer.base}"\n'
        text += f'key_fingerprints = ["{key}"]\n'
    (node.data / "federation.toml").write_text(text)


def _recognition(recognising: str, issuing: str) -> dict[str, Any]:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer"],
        "benefits": ["reduced-examination"],
    }


def _revoked(nodes: list[_Node], vc: dict[str, Any]) -> bool:
    for node in nodes:
        _, body = node.post("/credentials/verify", {"verifiableCredential": vc})
        if not any(c["name"] == "status" and c.get("code") == "REVOKED" for c in body["checks"]):
            return False
    return True


def _agree(eu: _Node, peer: _Node) -> None:
    # The proposal is delivered to the peer, the countersignature back (signed requests).
    status, proposal = eu.post(
        "/mras",
        {
            "peer": peer.did,
            "noticePeriodDays": 30,
            "recognitions": [_recognition(peer.did, eu.did)],
        },
    )
    assert status == 201, proposal
    status, signed = peer.post(
        "/mras/countersign", {"id": proposal["agreement"]["credentialSubject"]["id"]}
    )
    assert status == 200, signed


def _run(push: bool, count: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="trustlane-fed-bench-") as tmp:
        eu, us, jp = (_Node(Path(tmp), name) for name in ("eu", "us", "jp"))
        nodes = [eu, us, jp]
        try:
            for node in nodes:
                node.start()
            keys = {n.name: n.key() for n in nodes}
            for node in nodes:
                node.stop()
            _federation(eu, [(us, keys["us"]), (jp, keys["jp"])], push)
            _federation(us, [(eu, keys["eu"])], push)
            _federation(jp, [(eu, keys["eu"])], push)
            for node in nodes:
                node.start()
            for node in nodes:  # all up first: a failed first contact backs off
                status, body = node.post("/registry/sync", {})
                assert status == 200 and all(o["ok"] for o in body["outcomes"]), body
            _agree(eu, us)
            _agree(eu, jp)
            vcs = []
            for _ in range(count):
                status, body = eu.post("/aeo-credentials", {"credentialSubject": SUBJECT})
                assert status == 201, body
                vcs.append(body["verifiableCredential"])
            for vc in vcs:  # US and JP cache EU's lists on first use
                for node in (us, jp):
                    assert not _revoked([node], vc)
            latencies: list[float] = []
            pending: list[tuple[float, dict[str, Any]]] = []
            for vc in vcs:
                status, _ = eu.post(
                    "/credentials/status",
                    {
                        "credentialId": vc["id"],
                        "status": True,
                        "credentialStatus": {
                            "type": "BitstringStatusListEntry",
                            "statusPurpose": "revocation",
                        },
                    },
                )
                assert status == 200
                revoked_at = time.perf_counter()
                if push:  # one at a time: each push is timed alone
                    deadline = revoked_at + 10
                    while not _revoked([us, jp], vc):
                        if time.perf_counter() > deadline:
                            raise RuntimeError("push did not arrive within 10 s")
                        time.sleep(0.005)
                    latencies.append(time.perf_counter() - revoked_at)
                else:
                    pending.append((revoked_at, vc))
            deadline = time.perf_counter() + 60
            while pending:
                if time.perf_counter() > deadline:
                    raise RuntimeError("pull did not deliver within 60 s")
                still = []
                for revoked_at, vc in pending:
                    if _revoked([us, jp], vc):
                        latencies.append(time.perf_counter() - revoked_at)
                    else:
                        still.append((revoked_at, vc))
                pending = still
                time.sleep(0.05)
            return latencies
        finally:
            for node in nodes:
                node.stop()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(count: int = 50) -> list[str]:
    """Run both propagation benchmarks; return markdown lines."""
    lines = [
        "## Revocation propagation (three nodes, gunicorn, SQLite, loopback)",
        "",
        f"{count} revocations each. Time from EU's answer to the revoking call until the verify "
        "endpoints of both US and JP answer REVOKED (polled every 5 ms).",
        "",
        "| mode | p50 | p99 | max |",
        "|---|---:|---:|---:|",
    ]
    for push in (True, False):
        values = _run(push, count)
        label = "push (signed event, then refetch)" if push else "pull only (interval 5 s ± 1 s)"
        lines.append(
            f"| {label} | {statistics.median(values) * 1000:.0f} ms | "
            f"{_pct(values, 0.99) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )
    lines += ["", "Goal (issue 4): p99 under 1 s with push.", ""]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
