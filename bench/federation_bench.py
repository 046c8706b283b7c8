"""Revocation propagation between two real nodes (EU, US) on loopback.

For each revocation: the time from EU's answer to the revoking call until US refuses the
credential (its verify answers status REVOKED), with push enabled; and with push disabled,
where US learns from its scheduled pull (interval 5 s, jitter 1 s). Reports p50 and p99.
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


def _federation(node: _Node, peer: _Node, key: str, push: bool) -> None:
    (node.data / "federation.toml").write_text(
        '[federation]\nname = "bench"\n[sync]\ninterval_seconds = 5\njitter_seconds = 1\n'
        f"[push]\nenabled = {'true' if push else 'false'}\n"
        f'[[peers]]\nname = "{peer.name}"\ndid = "{peer.did}"\nbase_url = "{peer.base}"\n'
        f'key_fingerprints = ["{key}"]\n'
    )


def _recognition(recognising: str, issuing: str) -> dict[str, Any]:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer"],
        "benefits": ["reduced-examination"],
    }


def _revoked(us: _Node, vc: dict[str, Any]) -> bool:
    _, body = us.post("/credentials/verify", {"verifiableCredential": vc})
    return any(c["name"] == "status" and c.get("code") == "REVOKED" for c in body["checks"])


def _run(push: bool, count: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="trustlane-fed-bench-") as tmp:
        eu, us = _Node(Path(tmp), "eu"), _Node(Path(tmp), "us")
        try:
            for node in (eu, us):
                node.start()
            keys = {n.name: n.key() for n in (eu, us)}
            for node in (eu, us):
                node.stop()
            _federation(eu, us, keys["us"], push)
            _federation(us, eu, keys["eu"], push)
            for node in (eu, us):
                node.start()
            for node in (eu, us):  # both up first: a failed first contact backs off
                status, body = node.post("/registry/sync", {})
                assert status == 200 and all(o["ok"] for o in body["outcomes"]), body
            _, proposal = eu.post(
                "/mras",
                {
                    "peer": us.did,
                    "noticePeriodDays": 30,
                    "recognitions": [_recognition(us.did, eu.did)],
                },
            )
            _, record = us.post("/mras/receive", {"agreement": proposal["agreement"]})
            _, signed = us.post("/mras/countersign", {"id": record["id"]})
            eu.post("/mras/receive", {"agreement": signed["agreement"]})
            vcs = []
            for _ in range(count):
                status, body = eu.post("/aeo-credentials", {"credentialSubject": SUBJECT})
                assert status == 201, body
                vcs.append(body["verifiableCredential"])
            for vc in vcs:  # US caches EU's lists on first use
                assert not _revoked(us, vc)
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
                    while not _revoked(us, vc):
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
                    if _revoked(us, vc):
                        latencies.append(time.perf_counter() - revoked_at)
                    else:
                        still.append((revoked_at, vc))
                pending = still
                time.sleep(0.05)
            return latencies
        finally:
            eu.stop()
            us.stop()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(count: int = 50) -> list[str]:
    """Run both propagation benchmarks; return markdown lines."""
    lines = [
        "## Revocation propagation (two nodes, gunicorn, SQLite, loopback)",
        "",
        f"{count} revocations each. Time from EU's answer to the revoking call until US's "
        "verify answers REVOKED (US polls its own verify endpoint every 5 ms).",
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
