"""Issuance over HTTP with keep-alive: one SQLite node, and two replicas on PostgreSQL (issue 8).

``POST /aeo-credentials`` (scope ``issuer``) with Debian's ``wrk`` (``bench/wrk_post.lua``):
every request issues a new credential (a fresh ``urn:uuid``, a revocation and a suspension
entry at random indexes, the signature, the audit event and the log entry).

1. **One node, SQLite**: ``trustlane node serve`` with 2 workers, 16 connections.
2. **Two replicas, PostgreSQL**: one node initialised on a fresh PostgreSQL database, served
   by two ``node serve`` processes (2 workers each, the same data directory, two ports), each
   loaded by its own ``wrk`` with 8 connections at the same time; the figure is their sum.
   Concurrent issuances share transactions (group commit, ``node/storage/group_commit.py``).

After each run the database must hold every credential wrk counted as answered 201 (and at
most one more per connection, answered after wrk stopped reading), each with one revocation
and one suspension entry, no status index twice, and an unbroken audit chain; otherwise the
run fails. The PostgreSQL part says it was not measured when PostgreSQL cannot be reached.
``python -m bench.issuance_http_bench [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.pwhash
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bench.http_bench import SUBJECT, _free_port, init_bench_node, issue_one, serving
from bench.report import record
from bench.wrk_bench import WrkRun, ensure_wrk, wrk
from federation_config.settings import NodeSettings
from node.services.audit import verify_chain
from node.storage.db import Database
from node.storage.schema import credentials, status_entries
from node.wiring import init_node

PG_ADMIN_URL = os.environ.get(
    "TRUSTLANE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WORKERS = 2
CONNECTIONS = 16
GOAL_SQLITE = 1_000
GOAL_REPLICAS = 500
SECTION = "issuance over HTTP"


@contextmanager
def _pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database URL, dropped afterwards (None: PostgreSQL unreachable)."""
    name = f"trustlane_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError:
        admin.dispose()
        yield None
        return
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _check_stored(database_url: str, answered: int, connections: int) -> int:
    """Check what the runs left in the database; return how many credentials it holds."""
    db = Database(database_url)
    try:
        with db.read() as conn:
            stored = int(conn.execute(select(func.count()).select_from(credentials)).scalar_one())
            entries = int(
                conn.execute(select(func.count()).select_from(status_entries)).scalar_one()
            )
            distinct = int(
                conn.execute(
                    select(func.count()).select_from(
                        select(status_entries.c.list_id, status_entries.c.idx).distinct().subquery()
                    )
                ).scalar_one()
            )
        chain = verify_chain(db)
    finally:
        db.dispose()
    if not answered <= stored <= answered + connections:
        raise RuntimeError(f"{answered} issuances answered 201 but {stored} credentials stored")
    if entries != 2 * stored or distinct != entries:
        raise RuntimeError(f"{stored} credentials but {entries} entries ({distinct} distinct)")
    if not chain.ok:
        raise RuntimeError(f"audit chain broken: {chain.problem}")
    return stored


def _body(tmp: Path) -> Path:
    body = tmp / "issue.json"
    body.write_bytes(json.dumps({"credentialSubject": SUBJECT}, separators=(",", ":")).encode())
    return body


def _one_node(exe: str, tmp: Path, rounds: int, seconds: float) -> list[WrkRun]:
    port = _free_port()
    services, token, settings = init_bench_node(tmp, port)
    services.db.dispose()
    body = _body(tmp)
    url = f"http://127.0.0.1:{port}/aeo-credentials"
    with serving(settings, port, WORKERS, tmp / "serve.log"):
        issue_one(port, token)
        warm_up = wrk(exe, url, 1.0, body_file=body, token=token)
        runs = [wrk(exe, url, seconds, body_file=body, token=token) for _ in range(rounds)]
    answered = 1 + sum(r.requests - r.errors for r in (warm_up, *runs))
    _check_stored(settings.database_url, answered, CONNECTIONS * (rounds + 1))
    return runs


def _replicas(
    exe: str, tmp: Path, database_url: str, rounds: int, seconds: float
) -> list[tuple[WrkRun, WrkRun]]:
    ports = [_free_port(), _free_port()]
    settings = NodeSettings(
        name="bench replicas",
        base_url=f"http://127.0.0.1:{ports[0]}",
        data_dir=tmp / "node",
        database_url=database_url,
    )
    services, token = init_node(
        settings,
        {},
        now=datetime.now(UTC),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    services.db.dispose()
    body = _body(tmp)
    runs: list[tuple[WrkRun, WrkRun]] = []
    with (
        serving(settings, ports[0], WORKERS, tmp / "serve-a.log"),
        serving(settings, ports[1], WORKERS, tmp / "serve-b.log"),
    ):
        for port in ports:
            issue_one(port, token)

        def both(duration: float) -> tuple[WrkRun, WrkRun]:
            found: dict[int, WrkRun] = {}

            def load(port: int) -> None:
                found[port] = wrk(
                    exe,
                    f"http://127.0.0.1:{port}/aeo-credentials",
                    duration,
                    connections=CONNECTIONS // 2,
                    body_file=body,
                    token=token,
                )

            threads = [threading.Thread(target=load, args=(p,)) for p in ports]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(duration + 60)
            if len(found) != len(ports):
                raise RuntimeError("a wrk run did not finish")
            return found[ports[0]], found[ports[1]]

        warm_up = both(1.0)
        runs = [both(seconds) for _ in range(rounds)]
    answered = len(ports) + sum(a.requests - a.errors + b.requests - b.errors for a, b in runs)
    answered += warm_up[0].requests + warm_up[1].requests - warm_up[0].errors - warm_up[1].errors
    _check_stored(database_url, answered, CONNECTIONS * (rounds + 1))
    return runs


def run(
    *, rounds: int = 3, seconds: float = 5.0, json_figures: list[dict[str, Any]] | None = None
) -> list[str]:
    """Measure and return the markdown section."""
    header = ["## Issuance over HTTP (`wrk`, keep-alive)", ""]
    exe = ensure_wrk()
    if exe is None:
        return [*header, "Not measured: `wrk` is missing and could not be installed.", ""]
    with tempfile.TemporaryDirectory(prefix="trustlane-issue-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "sqlite").mkdir()
        single = _one_node(exe, tmp / "sqlite", rounds, seconds)
        with _pg_database() as pg_url:
            pairs = None
            if pg_url is not None:
                (tmp / "pg").mkdir()
                pairs = _replicas(exe, tmp / "pg", pg_url, rounds, seconds)
    single_rates = [r.rate for r in single]
    record(
        SECTION,
        "POST /aeo-credentials, one node, SQLite",
        single_rates,
        unit="issuances/s",
        goal=f">= {GOAL_SQLITE:,}/s",
        figures=json_figures,
    )
    errors = sum(r.errors for r in single)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        *header,
        f"`POST /aeo-credentials`, each request a new AEO credential (revocation and suspension "
        f"entries, signature, audit event, log entry); {WORKERS} workers per server, "
        f"{rounds} rounds of {seconds:g} s after a 1-s warm-up; server, PostgreSQL and wrk share "
        f"this machine's {os.cpu_count()} CPUs. {when}, load average "
        f"{os.getloadavg()[0]:.1f} at the end. After each part the database was checked: every "
        "credential answered 201 is stored with two entries, no index is used twice, and the "
        "audit chain is unbroken.",
        "",
        "| figure | median issuances/s | best | per round | mean latency (median round) | goal |",
        "|---|---:|---:|---|---:|---|",
        f"| one node, SQLite, {CONNECTIONS} connections | {statistics.median(single_rates):,.0f} | "
        f"{max(single_rates):,.0f} | {', '.join(f'{r:,.0f}' for r in single_rates)} | "
        f"{statistics.median(r.latency_ms for r in single):.1f} ms | >= {GOAL_SQLITE:,}/s |",
    ]
    if pairs is None:
        lines += [
            f"| two replicas, PostgreSQL | not measured: PostgreSQL at {PG_ADMIN_URL} cannot be "
            f"reached | | | | >= {GOAL_REPLICAS}/s |",
        ]
    else:
        sums = [a.rate + b.rate for a, b in pairs]
        errors += sum(a.errors + b.errors for a, b in pairs)
        record(
            SECTION,
            "POST /aeo-credentials, two replicas, PostgreSQL (sum)",
            sums,
            unit="issuances/s",
            goal=f">= {GOAL_REPLICAS}/s",
            figures=json_figures,
        )
        lines += [
            f"| two replicas, PostgreSQL, {CONNECTIONS // 2} connections each (sum) | "
            f"{statistics.median(sums):,.0f} | {max(sums):,.0f} | "
            f"{', '.join(f'{r:,.0f}' for r in sums)} | "
            f"{statistics.median(a.latency_ms for a, _ in pairs):.1f} ms | "
            f">= {GOAL_REPLICAS}/s |",
        ]
    lines += ["", f"Socket errors and answers other than 201 in these runs: {errors}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("\n".join(run(rounds=2 if args.quick else 3, seconds=2.0 if args.quick else 5.0)))


if __name__ == "__main__":
    main()
