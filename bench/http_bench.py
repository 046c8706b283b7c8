"""HTTP throughput of a real node under gunicorn, on loopback, in one run.

Starts ``trustlane node serve`` (SQLite, plain HTTP on 127.0.0.1) and drives it from client
processes with bounded, timed loops. Figures, interleaved round by round:
- a trivial endpoint (``GET /health/live``: no database, no keys);
- ``POST /credentials/verify`` of a compact AEO credential (proof, issuer, validity, status);
- ``POST /aeo-credentials`` (schema check, two status indexes, signature, storage, audit).
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.pwhash

from federation_config.settings import NodeSettings
from node.wiring import NodeServices, init_node

SUBJECT = {
    "id": "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
    "legalName": "Beispiel Logistik GmbH",
    "identifiers": [{"scheme": "EORI", "value": "DE123456789012345"}],
    "country": "DE",
    "authorisationNumber": "DEAEOF0000012345",
    "programme": "EU-AEO",
    "level": "AEOF",
    "roles": ["exporter", "importer"],
    "reassessmentDate": "2028-06-30T00:00:00Z",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _request(
    port: int, method: str, path: str, body: bytes | None, token: str | None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def init_bench_node(tmp: Path, port: int) -> tuple[NodeServices, str, NodeSettings]:
    """A fresh node (SQLite, plain HTTP on loopback) in ``tmp``; its admin token."""
    settings = NodeSettings(
        name="bench node",
        base_url=f"http://127.0.0.1:{port}",
        data_dir=tmp / "node",
        database_url=f"sqlite:///{tmp / 'node' / 'node.db'}",
    )
    services, token = init_node(
        settings,
        {},
        now=datetime.now(UTC),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    return services, token, settings


@contextmanager
def serving(settings: NodeSettings, port: int, workers: int, log_path: Path) -> Iterator[int]:
    """Run ``trustlane node serve`` until the block ends (bounded start and stop).

    ``port`` is where it listens (a replica of the node in ``settings`` may listen on a port
    other than its base URL's). Yields the server's (gunicorn master's) process id; its
    children are the workers.
    """
    exe = str(Path(sys.executable).parent / "trustlane")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [
                *(exe, "node", "serve", "--data-dir", str(settings.data_dir)),
                *("--workers", str(workers), "--port", str(port)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "GUNICORN_CMD_ARGS": "--access-logfile=/dev/null"},
        )
        try:
            for _ in range(200):
                try:
                    if _request(port, "GET", "/health/live", None, None)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("node did not start")
            yield proc.pid
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def issue_one(port: int, token: str) -> dict[str, object]:
    """Issue one AEO credential over HTTP; return it."""
    status, body = _request(
        port, "POST", "/aeo-credentials", json.dumps({"credentialSubject": SUBJECT}).encode(), token
    )
    if status != 201:
        raise RuntimeError(f"issuance failed: {status} {body[:200]!r}")
    vc: dict[str, object] = json.loads(body)["verifiableCredential"]
    return vc


def _client(args: tuple[int, str, str, bytes | None, str | None, int, float]) -> int:
    port, method, path, body, token, expect, seconds = args
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        status, _ = _request(port, method, path, body, token)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}, expected {expect}")
        done += 1
    return done


def run(
    rounds: int = 5,
    seconds: float = 2.0,
    workers: int = 2,
    clients: int = 2,
    *,
    json_figures: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Run the HTTP benchmark; return report lines (markdown).

    ``json_figures``, when given, gets one entry per figure with the req/s of every round and the
    per-round ratio to the trivial endpoint (the JSON report of ``bench/run.py``).
    """
    with tempfile.TemporaryDirectory(prefix="trustlane-bench-") as tmp:
        port = _free_port()
        services, token, settings = init_bench_node(Path(tmp), port)
        services.db.dispose()
        with serving(settings, port, workers, Path(tmp) / "serve.log"):
            vc = issue_one(port, token)
            verify_body = json.dumps({"verifiableCredential": vc}, separators=(",", ":")).encode()
            issue_body = json.dumps({"credentialSubject": SUBJECT}).encode()
            figures: dict[str, tuple[str, str, bytes | None, str | None, int]] = {
                "trivial endpoint (GET /health/live)": ("GET", "/health/live", None, None, 200),
                "verify (POST /credentials/verify)": (
                    "POST",
                    "/credentials/verify",
                    verify_body,
                    token,
                    200,
                ),
                "issue AEO credential (POST /aeo-credentials)": (
                    "POST",
                    "/aeo-credentials",
                    issue_body,
                    token,
                    201,
                ),
            }
            results: dict[str, list[float]] = {name: [] for name in figures}
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(clients) as pool:
                for _ in range(rounds):
                    for name, (method, path, payload, tok, expect) in figures.items():
                        start = time.perf_counter()
                        counts = pool.map(
                            _client, [(port, method, path, payload, tok, expect, seconds)] * clients
                        )
                        results[name].append(sum(counts) / (time.perf_counter() - start))
    trivial = results["trivial endpoint (GET /health/live)"]
    lines = [
        "## Node over HTTP (gunicorn, SQLite, loopback)",
        "",
        f"{workers} workers (`trustlane node serve`: gunicorn with the buffering worker of ADR "
        f"0002), {clients} client processes (new connection per "
        f"request), {rounds} interleaved rounds of {seconds} s per figure, all on this machine's "
        f"{os.cpu_count()} cores.",
        "",
        "| figure | median req/s | ratio to trivial (median of per-round ratios) |",
        "|---|---:|---:|",
    ]
    for name, values in results.items():
        ratios = [v / t for v, t in zip(values, trivial, strict=True)]
        lines.append(
            f"| {name} | {statistics.median(values):,.0f} | {statistics.median(ratios):.2f} |"
        )
        if json_figures is not None:
            json_figures.append(
                {
                    "section": "node over HTTP, new connection per request",
                    "name": name,
                    "unit": "req/s",
                    "per_round": [round(v, 3) for v in values],
                    "median": round(statistics.median(values), 3),
                    "best": round(max(values), 3),
                    "ratio_to": "trivial endpoint (GET /health/live)",
                    "ratio_per_round": [round(r, 4) for r in ratios],
                    "ratio_median": round(statistics.median(ratios), 4),
                }
            )
    lines += ["", "Goal (issue 3): verify >= 0.8 x trivial.", ""]
    return lines


def main() -> None:
    """Print the HTTP benchmark alone."""
    print("\n".join(run()))


if __name__ == "__main__":
    main()
