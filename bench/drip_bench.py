"""Verify throughput while a partner drips its status lists (issue: fail-closed trust).

One node (gunicorn, SQLite, plain HTTP on loopback) pins a partner. Rounds alternate; in each,
clients verify the node's own credential while one more client keeps sending the partner's
credential: (a) on lists the partner answers at once (404), (b) on lists it drips, announcing
a body and sending one byte every 50 ms (each verification answers ``unknown`` at once and
queues a background fetch that the partner holds until the fetch deadline). The load is the
same; verification never waits for a peer, so (b) should stay within 10 % of (a).
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.http_bench import SUBJECT, _client, _free_port, init_bench_node, issue_one, serving
from bench.report import record
from credentials.aeo import build_aeo_credential
from credentials.keys import PrivateKey
from credentials.signing import sign_credential


class _Dripper:
    """A partner on loopback: a DID document, and status lists that drip forever."""

    def __init__(self, key: PrivateKey) -> None:
        self.port = _free_port()
        self.did = f"did:web:127.0.0.1%3A{self.port}"
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        document = json.dumps(
            {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": self.did,
                "verificationMethod": [
                    {
                        "id": f"{self.did}#key-1",
                        "type": "Multikey",
                        "controller": self.did,
                        "publicKeyMultibase": key.public_key.multibase,
                    }
                ],
                "assertionMethod": [f"{self.did}#key-1"],
                "authentication": [f"{self.did}#key-1"],
            }
        ).encode()
        stop = self._stop

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/did.json":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(document)))
                    self.end_headers()
                    self.wfile.write(document)
                    return
                if self.path.endswith("-2"):
                    # The "quiet" lists: answered at once (not found), no drip.
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                while not stop.wait(0.05):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


def _partner_credential(
    key: PrivateKey, did: str, base_url: str, list_number: int
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    unsigned = build_aeo_credential(
        SUBJECT,
        issuer=did,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )
    unsigned["credentialStatus"] = [
        {
            "id": f"{base_url}/status-lists/{purpose}-{n}#5",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": "5",
            "statusListCredential": f"{base_url}/status-lists/{purpose}-{n}",
        }
        for n, purpose in ((list_number, "revocation"), (list_number, "suspension"))
    ]
    return sign_credential(unsigned, key, verification_method=f"{did}#key-1", created=now)


def _agitator(args: tuple[int, bytes, str, float]) -> int:
    """Keep sending the partner's credential (each queues dripping fetches)."""
    port, body, token, seconds = args
    return _client((port, "POST", "/credentials/verify", body, token, 422, seconds))


def run(rounds: int = 5, seconds: float = 2.0, workers: int = 2, clients: int = 2) -> list[str]:
    """Run the benchmark; return report lines (markdown)."""
    key = PrivateKey.from_seed(bytes([91]) * 32)
    dripper = _Dripper(key)
    try:
        quiet, dripping = _measure(dripper, key, rounds, seconds, workers, clients)
    finally:
        dripper.stop()
    return _report(quiet, dripping, rounds, seconds, workers, clients)


def _measure(
    dripper: _Dripper, key: PrivateKey, rounds: int, seconds: float, workers: int, clients: int
) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="trustlane-drip-") as tmp:
        port = _free_port()
        services, token, settings = init_bench_node(Path(tmp), port)
        services.peers.add_peer(
            name="dripper",
            did=dripper.did,
            base_url=dripper.base_url,
            pinned_keys=frozenset({key.public_key.multibase}),
            ca_bundle=None,
            now=datetime.now(UTC),
            actor="bench",
        )
        peer = services.peers.peer_named("dripper")
        outcome = services.sync.sync_did_document(peer, datetime.now(UTC))
        if not outcome.ok:
            raise RuntimeError(f"the partner was not trusted: {outcome.detail}")
        services.db.dispose()
        with serving(settings, port, workers, Path(tmp) / "serve.log"):
            own = issue_one(port, token)
            own_body = json.dumps({"verifiableCredential": own}).encode()
            # The same partner's credential on lists that drip (-1) or answer at once (-2): both
            # rounds carry the same extra requests, only the partner's behaviour differs.
            dripping_vc = _partner_credential(key, dripper.did, dripper.base_url, 1)
            quiet_vc = _partner_credential(key, dripper.did, dripper.base_url, 2)
            partner_body = json.dumps({"verifiableCredential": dripping_vc}).encode()
            quiet_body = json.dumps({"verifiableCredential": quiet_vc}).encode()
            quiet: list[float] = []
            dripping: list[float] = []
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(clients + 1) as pool:
                for _ in range(rounds):
                    agitator = pool.apply_async(_agitator, ((port, quiet_body, token, seconds),))
                    start = time.perf_counter()
                    counts = pool.map(
                        _client,
                        [(port, "POST", "/credentials/verify", own_body, token, 200, seconds)]
                        * clients,
                    )
                    quiet.append(sum(counts) / (time.perf_counter() - start))
                    agitator.get(timeout=seconds + 30)
                    agitator = pool.apply_async(_agitator, ((port, partner_body, token, seconds),))
                    start = time.perf_counter()
                    counts = pool.map(
                        _client,
                        [(port, "POST", "/credentials/verify", own_body, token, 200, seconds)]
                        * clients,
                    )
                    dripping.append(sum(counts) / (time.perf_counter() - start))
                    agitator.get(timeout=seconds + 30)
    return quiet, dripping


def _report(
    quiet: list[float],
    dripping: list[float],
    rounds: int,
    seconds: float,
    workers: int,
    clients: int,
) -> list[str]:
    ratios = [d / q for d, q in zip(dripping, quiet, strict=True)]
    section = "verify while a partner drips"
    record(section, "verify own credential, partner quiet", quiet, unit="req/s")
    record(
        section,
        "verify own credential, partner dripping",
        dripping,
        unit="req/s",
        reference=quiet,
        reference_name="verify own credential, partner quiet",
        goal=">= 0.90 x partner quiet (issue 8)",
    )
    return [
        "## Verify while a partner drips (gunicorn, SQLite, loopback)",
        "",
        f"{workers} workers, {clients} verifying clients, and one more client that keeps sending "
        "a partner's credential: in the quiet rounds its status lists answer at once (not "
        "found), in the dripping rounds the partner drips them (one byte per 50 ms), so both "
        f"rounds carry the same load. {rounds} interleaved rounds of {seconds} s.",
        "",
        "| figure | median req/s |",
        "|---|---:|",
        f"| verify own credential, partner quiet | {statistics.median(quiet):,.0f} |",
        f"| verify own credential, partner dripping | {statistics.median(dripping):,.0f} |",
        "",
        f"Ratio dripping / quiet (median of per-round ratios): {statistics.median(ratios):.2f}. "
        "Goal: >= 0.90.",
        "",
    ]


def main() -> None:
    """Print this benchmark alone."""
    print("\n".join(run()))


if __name__ == "__main__":
    main()
