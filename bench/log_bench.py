"""Transparency log benchmarks (the scan attestation issue).

- **Persisted appends/s**, batched, on SQLite and PostgreSQL: entries queued in one write
  transaction and appended at commit under the head lock, as the node does
  (``node.storage.log_repo``), for several batch sizes.
- **Proof time** at 10^4, 10^5 and 10^6 entries: inclusion and consistency proofs read from
  the stored subtree hashes (``TransparencyLog.inclusion_proof`` / ``consistency_proof``: one
  query, then assembly), p50 and p99 over random indexes.
- **Integration latency**: ``POST /scans`` through the Flask app (device proof checked,
  authorisation checked, countersigned, stored, appended, checkpoint signed, both inclusion
  proofs built): the attestation is covered by a signed checkpoint when the answer arrives.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import create_engine, text

from bench.import_bench import fresh_node
from bench.report import record
from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from node.app import create_app
from node.services.identity import NodeIdentity
from node.services.tokens import create_token
from node.services.transparency import TransparencyLog
from node.storage import log_repo
from node.storage.db import Database
from node.wiring import utcnow
from scan_attestation.attestation import build_scan_attestation, sign_as_device

PG_ADMIN_URL = os.environ.get(
    "TRUSTLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class _Identity:
    """Just what TransparencyLog reads for proofs (its origin)."""

    did = "did:web:bench.example"


@contextmanager
def _database(backend: str, tmp: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp / f'log-{uuid.uuid4().hex}.db'}")
        db.migrate()
        try:
            yield db
        finally:
            db.dispose()
        return
    name = f"trustlane_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _entry(i: int) -> bytes:
    # About the size of a real entry (type, urn:uuid id, issuer, digest).
    return (
        b'{"digest":"sha256:'
        + f"{i:064x}".encode()
        + b'","id":"urn:uuid:'
        + str(uuid.UUID(int=i)).encode()
        + b'","issuer":"did:web:bench.example",'
        + b'"type":["VerifiableCredential","ScanAttestation"],"v":1}'
    )


def _append(db: Database, start: int, count: int, batch: int) -> float:
    began = time.perf_counter()
    for offset in range(0, count, batch):
        with db.write() as conn:
            for i in range(start + offset, start + min(count, offset + batch)):
                log_repo.queue_entry(conn, f"urn:uuid:{i}", _entry(i))
    return count / (time.perf_counter() - began)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def appends(tmp: Path, *, count: int) -> list[str]:
    rows = []
    for backend in ("sqlite", "postgresql"):
        for batch in (1, 64, 512):
            n = count // 10 if batch == 1 else count
            with _database(backend, tmp) as db:
                rate = _append(db, 0, n, batch)
                with db.read() as conn:
                    assert log_repo.read_head(conn).size == n
            rows.append(f"| {backend} | {batch} | {n:,} | {rate:,.0f} |")
            goal = None if batch == 1 else ">= 5,000/s" if backend == "sqlite" else ">= 3,000/s"
            record(
                "transparency log",
                f"persisted appends, {backend}, {batch} per transaction",
                [rate],
                unit="appends/s",
                goal=goal,
            )
    return [
        "### Persisted appends",
        "",
        "| backend | entries per transaction | entries | appends/s |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "Goals: >= 5,000/s on SQLite and >= 3,000/s on PostgreSQL (batched).",
        "",
    ]


def proofs(tmp: Path, *, sizes: tuple[int, ...], samples: int) -> list[str]:
    rows = []
    rng = random.Random(7)
    with _database("sqlite", tmp) as db:
        log = TransparencyLog(db=db, identity=cast(NodeIdentity, _Identity()))
        size = 0
        for target in sizes:
            _append(db, size, target - size, 4096)
            size = target
            inclusion, consistency = [], []
            for _ in range(samples):
                index = rng.randrange(size)
                began = time.perf_counter()
                proof = log.inclusion_proof(index, size)
                inclusion.append(time.perf_counter() - began)
                assert len(proof) <= 64
                old = rng.randrange(1, size)
                began = time.perf_counter()
                log.consistency_proof(old, size)
                consistency.append(time.perf_counter() - began)
            (i50, i99), (c50, c99) = _percentiles(inclusion), _percentiles(consistency)
            for name, values in (("inclusion", (i50, i99)), ("consistency", (c50, c99))):
                record(
                    "transparency log",
                    f"{name} proof at {size:,} entries, p50 and p99",
                    [v * 1e3 for v in values],
                    unit="ms",
                    goal="< 1 ms p99 at 10^6 entries" if name == "inclusion" else None,
                )
            rows.append(
                f"| {size:,} | {i50 * 1e3:.3f} | {i99 * 1e3:.3f} | {c50 * 1e3:.3f} | "
                f"{c99 * 1e3:.3f} |"
            )
    return [
        "### Proofs from the stored tree (SQLite, one query + assembly)",
        "",
        "| entries | inclusion p50 ms | inclusion p99 ms | consistency p50 ms "
        "| consistency p99 ms |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Goal: < 1 ms p99 at 10^6 entries, growing with log n.",
        "",
    ]


def latency(tmp: Path, *, count: int) -> list[str]:
    services = fresh_node(tmp, "Log bench")
    try:
        _, token = create_token(
            services.db, name="bench", scopes=frozenset({"device-admin"}), now=utcnow(), actor="b"
        )
        client = create_app(services, testing=True).test_client()
        device = PrivateKey.generate()
        registered = client.post(
            "/devices",
            json={
                "name": "rpm-bench",
                "device": device.public_key.did,
                "modalities": ["rpm"],
                "site": "NLRTM",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        authorization: dict[str, Any] = registered.get_json()["deviceAuthorization"]
        times = []
        for _ in range(count):
            now = datetime.now(UTC).replace(microsecond=0)
            unsigned = build_scan_attestation(
                attestation_id=f"urn:uuid:{uuid.uuid4()}",
                device=device.public_key.did,
                authorization_id=authorization["id"],
                site="NLRTM",
                scan={
                    "format": "n42",
                    "modality": "rpm",
                    "scanTime": format_datetime(now),
                    "result": "clear",
                    "rawSha256": "ab" * 32,
                    "parserNotes": [],
                },
                containers=("CSQU3054383",),
            )
            signed = sign_as_device(unsigned, device, created=now)
            began = time.perf_counter()
            response = client.post("/scans", json=signed)
            times.append(time.perf_counter() - began)
            assert response.status_code == 201, response.get_data()
        p50, p99 = _percentiles(times)
        record(
            "transparency log",
            "POST /scans until covered by a signed checkpoint, p50 and p99",
            [p50 * 1e3, p99 * 1e3],
            unit="ms",
            goal="p99 < 1,000 ms",
        )
    finally:
        services.db.dispose()
    return [
        "### Integration latency (`POST /scans` until covered by a signed checkpoint)",
        "",
        f"{count} submissions, one at a time, in process (Flask test client, SQLite): "
        f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms. The answer carries the signed "
        "checkpoint that covers the attestation, so submission and integration are one step. "
        "Goal: p99 < 1 s.",
        "",
    ]


def run(*, quick: bool = False) -> list[str]:
    """All transparency log figures as markdown lines."""
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory(prefix="trustlane-log-bench-") as tmp:
        root = Path(tmp)
        lines = ["## Transparency log", ""]
        lines += appends(root, count=5_000 if quick else 20_000)
        sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
        lines += proofs(root, sizes=sizes, samples=200 if quick else 1000)
        lines += latency(root, count=50 if quick else 200)
    lines += [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end, {when}.",
        "",
    ]
    return lines


if __name__ == "__main__":  # pragma: no cover
    import sys

    print("\n".join(run(quick="--quick" in sys.argv)))
