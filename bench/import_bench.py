"""AEO register import throughput (issue: `trustlane aeo import`).

Generates a register of valid EU AEO rows, initialises a fresh node on SQLite in a temporary
directory, and runs the import the way the CLI does (parse, then batches of 500 rows per
transaction). Reports credentials issued per second, and checks that a re-run issues nothing.
Not wired into ``bench/run.py`` yet; call :func:`run`.
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

from credentials.keys import PrivateKey
from federation_config.settings import NodeSettings
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
    settings = NodeSettings(
        name=name,
        base_url="http://127.0.0.1:18443",
        data_dir=root / "node",
        database_url=f"sqlite:///{root / 'node.db'}",
    )
    services, _ = init_node(
        settings,
        {},
        now=utcnow(),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    return services


def run(count: int = 5000) -> list[str]:
    """Import ``count`` generated rows into a fresh SQLite node; return markdown lines."""
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
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
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
    ]


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run()))
