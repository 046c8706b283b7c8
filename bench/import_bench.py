"""AEO register import and one-by-one issuance throughput (issue 8).

Generates a register of valid EU AEO rows, initialises a fresh node on SQLite in a temporary
directory, and runs the import the way the CLI does (parse, then batches of 500 rows per
transaction). Reports credentials issued per second, and checks that a re-run issues nothing.
Then issues AEO credentials one by one on another fresh node, each in its own write
transaction as ``POST /aeo-credentials`` does: through the service, and through the Flask
app in process (test client: routing, token check, JSON, no sockets).
"""

from __future__ import annotations

import csv
import io
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nacl.pwhash

from bench.http_bench import SUBJECT as _SUBJECT
from bench.report import record
from credentials.keys import PrivateKey
from federation_config.settings import NodeSettings
from node.app import create_app
from node.services.aeo_import import CSV_COLUMNS, import_register, parse_register
from node.services.audit import verify_chain
from node.wiring import NodeServices, init_node, utcnow

ROLES = ["exporter", "importer", "carrier", "customs-broker", "warehouse-keeper"]


def register_csv(count: int, *, seed: int = 7) -> bytes:
    """A CSV register of ``count`` valid EU AEO traders (distinct EORI numbers)."""
    holders = [PrivateKey.from_seed(bytes([i % 256, i // 256]) + bytes(30)) for i in range(64)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS[:10])
    for i in range(count):
        level = ("AEOC", "AEOS", "AEOF")[(i + seed) % 3]
        writer.writerow(
            [
                holders[i % len(holders)].public_key.did,
                f"Beispiel Logistik {i} GmbH",
                "EORI",
                f"DE{100000000 + i:015d}",
                "DE",
                f"DE{level}{i:010d}",
                "EU-AEO",
                level,
                ";".join(ROLES[: 1 + i % len(ROLES)]),
                "2029-06-30T00:00:00Z",
            ]
        )
    return out.getvalue().encode()


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fresh_node(root: Path, name: str) -> NodeServices:
    """A new node on SQLite under ``root`` (fast key store parameters: a bench, not a node)."""
    return _fresh_node(root, name)[0]


def _fresh_node(root: Path, name: str) -> tuple[NodeServices, str]:
    settings = NodeSettings(
        name=name,
        base_url="http://127.0.0.1:18443",
        data_dir=root / "node",
        database_url=f"sqlite:///{root / 'node.db'}",
    )
    return init_node(
        settings,
        {},
        now=utcnow(),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )


def issuance_rates(count: int = 500, warmup: int = 50) -> dict[str, tuple[float, float]]:
    """One-by-one issuance on a fresh SQLite node: ``{way: (per wall second, per CPU second)}``.

    ``service``: :meth:`IssuanceService.issue_aeo`; ``app``: ``POST /aeo-credentials``
    through the Flask app (test client). Each issuance is its own committed transaction.
    """
    rates: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trustlane-issue-bench-") as tmp:
        services, token = _fresh_node(Path(tmp), "Issuance bench")
        try:
            client = create_app(services, testing=True).test_client()
            headers = {"Authorization": f"Bearer {token}"}

            def by_service() -> None:
                services.issuance.issue_aeo(_SUBJECT, now=services.clock(), actor="bench")

            def by_app() -> None:
                answer = client.post(
                    "/aeo-credentials", json={"credentialSubject": _SUBJECT}, headers=headers
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"issuance failed: {answer.status_code}")

            for way, issue in (("service", by_service), ("app", by_app)):
                for _ in range(warmup):
                    issue()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    issue()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rates[way] = (count / wall, count / cpu)
            chain = verify_chain(services.db)
        finally:
            services.db.dispose()
    assert chain.ok, chain.problem
    return rates


def run(count: int = 5000, issuances: int = 500) -> list[str]:
    """Import ``count`` generated rows into a fresh SQLite node, then issue ``issuances``
    one by one on another; return markdown lines."""
    data = register_csv(count)
    with tempfile.TemporaryDirectory(prefix="trustlane-import-bench-") as tmp:
        root = Path(tmp)
        services = fresh_node(root, "Import bench")
        try:
            cpu = time.process_time()
            register = parse_register(data, "csv")
            first = import_register(
                register,
                issuance=services.issuance,
                db=services.db,
                clock=services.clock,
                actor="bench",
            )
            cpu = time.process_time() - cpu
            again = import_register(
                register,
                issuance=services.issuance,
                db=services.db,
                clock=services.clock,
                actor="bench",
            )
            chain = verify_chain(services.db)
        finally:
            services.db.dispose()
    assert first.issued == count and first.failed == 0, first.as_json()
    assert again.issued == 0 and again.skipped == count, again.as_json()
    assert chain.ok, chain.problem
    rates = issuance_rates(issuances)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
    record(
        "AEO import",
        "trustlane aeo import, SQLite, first run",
        [first.rate],
        unit="credentials/s",
        goal=">= 2,000 credentials/s",
    )
    record("AEO import", "issuance one by one, service, SQLite", [rates["service"][0]])
    record(
        "AEO import",
        "issuance one by one, POST /aeo-credentials in process, SQLite",
        [rates["app"][0]],
        goal=">= 1,000 issuances/s",
    )
    return [
        "## AEO register import (`trustlane aeo import`, SQLite)",
        "",
        f"{count:,} generated EU AEO rows (CSV) into a fresh node, batches of 500 rows per "
        "transaction; the re-run skips every row.",
        "",
        "| run | rows | issued | skipped | seconds | credentials/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| first | {first.rows:,} | {first.issued:,} | {first.skipped:,} | "
        f"{first.seconds:.2f} | {first.rate:,.0f} |",
        f"| re-run | {again.rows:,} | {again.issued:,} | {again.skipped:,} | "
        f"{again.seconds:.2f} | {again.rows / again.seconds:,.0f} rows/s |",
        "",
        f"Parsing the file and importing took {cpu:.2f} s of CPU in all "
        f"({count / cpu:,.0f} rows per CPU second). Machine: {os.cpu_count()} CPUs ({_cpu()}), "
        f"Python {platform.python_version()}, load average {load:.1f} at the end, {when}. "
        "Goal: at least 2,000 credentials/s.",
        "",
        f"Issuance one by one on a fresh node (each its own committed transaction: two status "
        f"indexes, signature, credential, audit event, log entry), {issuances:,} after 50 "
        "warm-up issuances:",
        "",
        "| way | issuances/s | per CPU second |",
        "| --- | ---: | ---: |",
        f"| `IssuanceService.issue_aeo` | {rates['service'][0]:,.0f} | "
        f"{rates['service'][1]:,.0f} |",
        f"| `POST /aeo-credentials` (Flask app in process) | {rates['app'][0]:,.0f} | "
        f"{rates['app'][1]:,.0f} |",
        "",
        "Goal (issue 8): at least 1,000 issuances/s on one SQLite node.",
        "",
    ]


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run()))
