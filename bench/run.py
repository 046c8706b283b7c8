"""``make bench``: trust-kernel throughput, measured in one run on one core.

Measures, interleaved round by round so that machine noise hits every figure alike:
- full credential verification from bytes (strict parse, data model, JCS, SHA-256, Ed25519,
  issuer binding, validity) for a typical ~1.5 KB AEO credential, compact and pretty-printed;
- raw libsodium Ed25519 verify of a 64-byte message (what eddsa-jcs-2022 signs);
- re-verification of the same compact credential bytes: the prepared form from a
  :class:`~credentials.prepared.PreparedCache` (keyed by the SHA-256 of the bytes) and the
  signature result from a :class:`~credentials.signature_cache.SignatureCache`; every check
  that depends on time or trust runs each time (see ``RE_VERIFY_RUNS``); for comparison also
  the older re-verify that parses and runs the static steps each time (signature cached);
- the same in the registry pipeline against a trust snapshot (partner's credential, status
  and recognition checked each time), cold and re-verified;
- PyJWT EdDSA decode of a JWT carrying the same claims;
- a plain reference path (json with duplicate check + rfc8785 + PyNaCl) for comparison;
- presentation verification of two credentials (``bench.presentation_bench``), with its own
  raw libsodium figure in the same rounds.

Then (unless ``--skip-http``) the node figures, among them keep-alive figures with ``wrk``,
worker RSS and a bounded soak (``bench.wrk_bench``, ``--soak-seconds``), issuance over HTTP
from one SQLite node and from two replicas on PostgreSQL (``bench.issuance_http_bench``), and
``POST /risk/assess`` in process (``bench.risk_http_bench``), and the risk core.

Ratios are computed per round (same round, same conditions) and the median is reported.
Besides the markdown report (``--out``), every figure is written as JSON next to it
(``docs/benchmarks.json``: machine, load average, versions, UTC date, and per figure the
ops/s of each round, the median and the ratio to raw libsodium).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import jwt
import nacl.bindings
import nacl.signing
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import (
    drip_bench,
    federation_bench,
    http_bench,
    import_bench,
    issuance_http_bench,
    log_bench,
    presentation_bench,
    risk_bench,
    risk_http_bench,
    wrk_bench,
)
from bench.report import FIGURES as JSON_FIGURES
from bench.report import RAW, record
from credentials.aeo import AEO_CONTEXT_URL
from credentials.data_integrity import DIDKeyResolver
from credentials.keys import PrivateKey, b58decode
from credentials.prepared import PreparedCache, prepare_credential_bytes
from credentials.signature_cache import SignatureCache
from credentials.signing import sign_credential
from credentials.strict_json import loads_object
from credentials.verification import (
    PreparedCredential,
    check_prepared_credential,
    get_credential_verification_result,
)
from registry.pipeline import PreparedForSnapshot, prepare_for_snapshot, verify_with_snapshot

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RE_VERIFY = "re-verify, same compact bytes (prepared form and signature cached)"
RE_VERIFY_PARSED = "re-verify, compact JSON parsed and prepared again, signature cached"
NODE_FULL = "node pipeline verify, partner's credential (status, recognition)"
NODE_RE_VERIFY = "node pipeline re-verify, same bytes (prepared form and signature cached)"
#: What the re-verify rows run on every call (the rest comes from the prepared form).
RE_VERIFY_RUNS = (
    "SHA-256 of the bytes and the cache lookup; per proof: expected purpose, created and "
    "expires against now, key resolution (did:key here; the trust snapshot's keys in the "
    "node: compromise, retirement, peer trust), purpose authorisation, the signature cache "
    "lookup (SHA-256 of key, signature and the exact hashed bytes); issuer binding; "
    "validity period at now"
)
#: How long each part of the run took (seconds of wall time), for the JSON report.
SECTION_SECONDS: dict[str, float] = {}
T = TypeVar("T")


def timed(label: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` and note its wall time under ``label`` (also printed to stderr)."""
    start = time.perf_counter()
    try:
        return fn()
    finally:
        SECTION_SECONDS[label] = round(time.perf_counter() - start, 1)
        print(f"[bench] {label}: {SECTION_SECONDS[label]:.1f} s", file=sys.stderr)


def typical_credential(issuer: PrivateKey, holder: PrivateKey) -> dict[str, Any]:
    """An AEO credential of about 1.5 KB, as the node will issue them."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", AEO_CONTEXT_URL],
        "id": "urn:uuid:9b2f7c1e-4d3a-4f6b-8e21-6c0d2a9f5b13",
        "type": ["VerifiableCredential", "AEOCertificate"],
        "issuer": issuer.public_key.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2029-01-01T00:00:00Z",
        "credentialSubject": {
            "id": holder.public_key.did,
            "legalName": "Beispiel Logistik GmbH",
            "identifiers": [
                {"scheme": "EORI", "value": "DE123456789012345"},
                {"scheme": "US-MID", "value": "DEBEILOG1234HAM"},
            ],
            "country": "DE",
            "authorisationNumber": "DEAEOF0000012345",
            "programme": "EU-AEO",
            "level": "AEOF",
            "roles": ["exporter", "importer", "warehouse-keeper"],
            "reassessmentDate": "2028-06-30T00:00:00Z",
        },
        "credentialStatus": [
            {
                "id": "https://customs.de.example/status-lists/r1#94567",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "94567",
                "statusListCredential": "https://customs.de.example/status-lists/r1",
            },
            {
                "id": "https://customs.de.example/status-lists/s1#23452",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "suspension",
                "statusListIndex": "23452",
                "statusListCredential": "https://customs.de.example/status-lists/s1",
            },
        ],
    }


def _dup_check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate")
    return out


def reference_verify(data: bytes) -> bool:
    """The plain path: json (strict) + rfc8785 + PyNaCl, no fast path."""
    doc = json.loads(data, object_pairs_hook=_dup_check)
    proof = dict(doc["proof"])
    unsecured = {k: v for k, v in doc.items() if k != "proof"}
    sig = b58decode(proof.pop("proofValue")[1:])
    mb = proof["verificationMethod"].split("#")[1]
    pub = b58decode(mb[1:])[2:]
    digest = (
        hashlib.sha256(rfc8785.dumps(proof)).digest()
        + hashlib.sha256(rfc8785.dumps(unsecured)).digest()
    )
    nacl.signing.VerifyKey(pub).verify(digest, sig)
    return True


def rate(
    fn: Callable[[], object], seconds: float, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of ``clock`` (wall time by default;
    ``time.process_time`` counts only this process's CPU time, which other load on a shared
    machine moves much less)."""
    n, batch = 0, 64
    start = clock()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = clock()
        if now >= deadline:
            return n / (now - start)


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    """One line describing the machine."""
    sodium = importlib.metadata.version("pynacl")
    return (
        f"{cpu_model()}, {os.cpu_count()} cores (bench pinned to 1), Python "
        f"{platform.python_version()}, PyNaCl {sodium} (bundled libsodium)"
    )


#: Packages whose versions the JSON report records.
KEY_PACKAGES = (
    "pynacl",
    "cryptography",
    "orjson",
    "rfc8785",
    "pyld",
    "jsonschema",
    "flask",
    "werkzeug",
    "gunicorn",
    "sqlalchemy",
    "pyjwt",
)


def versions() -> dict[str, str]:
    """Python's and the key packages' versions."""
    out = {"python": platform.python_version(), "libsodium": "bundled with PyNaCl"}
    for name in KEY_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_json(path: Path, args: argparse.Namespace, load_start: tuple[float, ...]) -> None:
    """Write the raw figures with machine, versions and date to ``path``."""
    report = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m bench.run "
        + " ".join(
            part
            for part in (
                "--quick" if args.quick else "",
                "--skip-http" if args.skip_http else "",
                f"--rounds {args.rounds}",
                f"--seconds {args.seconds:g}",
                f"--clock {args.clock}",
            )
            if part
        ),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "kernel_figures_pinned_to_one_core": True,
        },
        "versions": versions(),
        "section_seconds": SECTION_SECONDS,
        "figures": JSON_FIGURES,
    }
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def node_figures() -> tuple[Callable[[], object], Callable[[], object]]:
    """The registry pipeline at a US node for an EU credential: cold, and re-verified."""
    snapshot = presentation_bench.trust_snapshot()
    now = presentation_bench.NOW
    data = json.dumps(
        presentation_bench.aeo_credential(1, "AEOF"), separators=(",", ":"), ensure_ascii=False
    ).encode()
    prepared_cache: PreparedCache[PreparedForSnapshot] = PreparedCache()
    signatures = SignatureCache()

    def prepare(raw: bytes) -> PreparedForSnapshot:
        return prepare_for_snapshot(loads_object(raw))

    def cold() -> object:
        outcome = verify_with_snapshot(loads_object(data), snapshot, now=now)
        if not outcome.verified or not outcome.benefits:
            raise AssertionError(outcome.to_dict())
        return outcome

    def again() -> object:
        prepared = prepared_cache.get_or_prepare(data, prepare)
        outcome = verify_with_snapshot(
            prepared.document, snapshot, now=now, signature_cache=signatures, prepared=prepared
        )
        if not outcome.verified or not outcome.benefits:
            raise AssertionError(outcome.to_dict())
        return outcome

    cold()
    again()
    return cold, again


def main() -> None:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument(
        "--skip-http", action="store_true", help="trust kernel figures only (no node processes)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer and shorter rounds, no propagation figures (under 2 minutes)",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.2, help="per figure per round")
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=None,
        help="length of the HTTP soak at 80%% of capacity (default 180, 15 with --quick)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time the kernel figures by wall time or by this process's CPU time",
    )
    parser.add_argument(
        "--json-out",
        default=None,
        help="where the raw figures go as JSON (default: --out with .json)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds = min(args.rounds, 5)
    load_start = os.getloadavg()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    issuer = PrivateKey.from_seed(bytes(range(32)))
    holder = PrivateKey.from_seed(bytes(range(1, 33)))
    signed = sign_credential(
        typical_credential(issuer, holder),
        issuer,
        verification_method=issuer.public_key.verification_method_id,
        created=NOW - timedelta(days=1),
    )
    compact = json.dumps(signed, separators=(",", ":"), ensure_ascii=False).encode()
    pretty = json.dumps(signed, indent=2, ensure_ascii=False).encode()
    resolver = DIDKeyResolver()

    signatures = SignatureCache()
    prepared_cache: PreparedCache[PreparedCredential] = PreparedCache()
    re_signatures = SignatureCache()

    def re_verify() -> object:
        # The same bytes again: the prepared form and the signature result are kept; every
        # check that depends on time or trust runs (RE_VERIFY_RUNS).
        prepared = prepared_cache.get_or_prepare(compact, prepare_credential_bytes)
        result = check_prepared_credential(
            prepared, resolver=resolver, now=NOW, signature_cache=re_signatures
        )
        if not result.verified:
            raise AssertionError(result.to_dict())
        return result

    def full_verify(data: bytes, cache: SignatureCache | None = None) -> Callable[[], object]:
        def run() -> object:
            result = get_credential_verification_result(
                loads_object(data), resolver=resolver, now=NOW, signature_cache=cache
            )
            if not result.verified:
                raise AssertionError(result.to_dict())
            return result

        return run

    msg = hashlib.sha512(b"x").digest()
    raw_sig = nacl.bindings.crypto_sign(msg, issuer.seed + bytes(issuer.public_key.raw))[:64]
    pk = issuer.public_key.raw

    def raw_verify() -> object:
        return nacl.bindings.crypto_sign_open(raw_sig + msg, pk)

    claims = {k: v for k, v in signed.items() if k != "proof"}
    jwt_key = Ed25519PrivateKey.from_private_bytes(issuer.seed)
    token = jwt.encode({"vc": claims, "iss": issuer.public_key.did}, jwt_key, algorithm="EdDSA")
    jwt_pub = jwt_key.public_key()

    def jwt_decode() -> object:
        return jwt.decode(token, jwt_pub, algorithms=["EdDSA"])

    assert reference_verify(compact)
    full_verify(compact, signatures)()  # the first verification puts the signature in
    assert (len(signatures), signatures.misses) == (1, 1)
    re_verify()  # the first one prepares and checks the signature
    assert (prepared_cache.misses, re_signatures.misses) == (1, 1)
    node_full, node_re_verify = node_figures()
    figures: dict[str, Callable[[], object]] = {
        RAW: raw_verify,
        "full credential verify, compact JSON": full_verify(compact),
        "full credential verify, pretty-printed JSON": full_verify(pretty),
        RE_VERIFY: re_verify,
        RE_VERIFY_PARSED: full_verify(compact, signatures),
        NODE_FULL: node_full,
        NODE_RE_VERIFY: node_re_verify,
        "PyJWT EdDSA decode, same claims": jwt_decode,
        "reference path (json + rfc8785 + PyNaCl, proof only)": lambda: reference_verify(compact),
    }
    for fn in figures.values():  # warm up (caches, imports)
        rate(fn, 0.05, clock)
    rounds: dict[str, list[float]] = {name: [] for name in figures}
    kernel_start = time.perf_counter()
    for _ in range(args.rounds):
        for name, fn in figures.items():
            rounds[name].append(rate(fn, args.seconds, clock))
    SECTION_SECONDS["kernel"] = round(time.perf_counter() - kernel_start, 1)
    raw_name = RAW
    median = {name: statistics.median(values) for name, values in rounds.items()}
    kernel_goals = {
        "full credential verify, compact JSON": ">= 0.8 x raw libsodium (issue 8)",
        "full credential verify, pretty-printed JSON": ">= 0.7 x raw libsodium (issue 8)",
        RE_VERIFY: ">= 3 x raw libsodium (issue 8)",
        NODE_RE_VERIFY: ">= 3 x raw libsodium (issue 8; status and recognition included)",
    }
    for name, values in rounds.items():
        record(
            "trust kernel",
            name,
            values,
            reference=rounds[raw_name],
            goal=kernel_goals.get(name),
        )
    lines = [
        "# Benchmarks",
        "",
        f"Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make bench`",
        f"Machine: {machine()}",
        f"Credential: {len(compact)} bytes compact, {len(pretty)} bytes pretty-printed; "
        f"JWT {len(token)} bytes. {args.rounds} interleaved rounds of {args.seconds} s "
        f"({'CPU' if args.clock == 'cpu' else 'wall'} time) per figure.",
        "",
        "## Trust kernel: verification throughput (one core)",
        "",
        "| figure | median ops/s | best ops/s | ratio to raw libsodium: median of per-round "
        "ratios | ratio of best rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    best = {name: max(values) for name, values in rounds.items()}
    re_ratios = [v / r for v, r in zip(rounds[RE_VERIFY], rounds[raw_name], strict=True)]
    node_ratios = [v / r for v, r in zip(rounds[NODE_RE_VERIFY], rounds[raw_name], strict=True)]
    for name, values in rounds.items():
        ratios = [v / r for v, r in zip(values, rounds[raw_name], strict=True)]
        lines.append(
            f"| {name} | {median[name]:,.0f} | {best[name]:,.0f} | "
            f"{statistics.median(ratios):.2f} | {best[name] / best[raw_name]:.2f} |"
        )
    lines += [
        "",
        "Best rounds are the least disturbed by other load on this shared machine. "
        "Full verify = strict JSON parse of the bytes, VC 2.0 data model checks, did:key "
        "resolution (cached), JCS of proof options and document, two SHA-256, Ed25519 verify "
        "(S < L), issuer binding and validity period. The reference path does only the proof "
        "part, with `json` + `rfc8785`; it shows what the canonicalization fast path saves.",
        "Target (issue 2): full verify >= 0.75 x raw libsodium.",
        "",
        "Re-verify (issue 8): the same bytes verified again. The prepared form (strict "
        "parse, data model and JSON-LD checks, per proof type, cryptosuite, proofValue, "
        "previousProof, @context prefix and the exact bytes signed) comes from a "
        "`PreparedCache` keyed by the SHA-256 of the bytes (`credentials/prepared.py`), the "
        "Ed25519 result from the signature cache (`credentials/signature_cache.py`). Run "
        f"every time: {RE_VERIFY_RUNS}. Goal: >= 3 x raw libsodium; measured "
        f"{statistics.median(re_ratios):.2f}. The row parsed and prepared again is the "
        "previous re-verify (only the signature cached), for comparison.",
        "",
        "Node pipeline rows: `registry.pipeline.verify_with_snapshot` at a US node for an EU "
        "AEO credential under an EU-US agreement in force (the trust snapshot of "
        "`bench/presentation_bench.py`): proof, data model, issuer, validity, status on both "
        "EU lists and recognition. The re-verify row takes the same bytes' prepared form "
        "(`registry.pipeline.prepare_for_snapshot`: the kernel's static phase plus the parsed "
        "status entries and the recognition facts, AEO subject schema included) and the "
        "signature from the caches, and checks key resolution against the snapshot, proof "
        "times, issuer, validity, both status lists and the agreements every time (what "
        "`POST /credentials/verify` does with the same body). "
        f"Measured {statistics.median(node_ratios):.2f} x raw libsodium.",
        "",
    ]
    # Still pinned to one core; measures its own raw libsodium figure in the same rounds.
    lines += timed(
        "presentation", lambda: presentation_bench.run(rounds=args.rounds, seconds=args.seconds)
    )
    if not args.skip_http:
        # The HTTP figures run without the single-core pin: server and clients need both cores.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        quick = args.quick
        lines += timed(
            "http",
            lambda: http_bench.run(
                rounds=2 if quick else 5,
                seconds=1.0 if quick else 2.0,
                json_figures=JSON_FIGURES,
            ),
        )
        soak = args.soak_seconds if args.soak_seconds is not None else 10 if quick else 180
        lines += timed(
            "wrk",
            lambda: wrk_bench.run(
                rounds=2 if quick else 5,
                seconds=3.0 if quick else 5.0,
                soak_seconds=soak,
                quick=quick,
                json_figures=JSON_FIGURES,
            ),
        )
        lines += timed(
            "drip",
            lambda: drip_bench.run(rounds=1, seconds=1.5) if quick else drip_bench.run(rounds=5),
        )
        lines += timed("import", lambda: import_bench.run(count=2000 if quick else 5000))
        lines += timed(
            "issuance http",
            lambda: issuance_http_bench.run(
                rounds=1 if quick else 3, seconds=2.0 if quick else 5.0, json_figures=JSON_FIGURES
            ),
        )
        if quick:
            # Pull-mode propagation waits out a 5-s sync interval per revocation, and three
            # nodes start twice: about a minute even for 5 revocations, half the budget.
            lines += [
                "## Revocation propagation",
                "",
                "Not measured with `--quick` (it takes about a minute on its own); run "
                "`make bench` or `python -m bench.federation_bench`.",
                "",
            ]
        else:
            lines += timed("federation", lambda: federation_bench.run(count=50))
        lines += timed("log", lambda: log_bench.run(quick=quick))
        lines += timed("risk http", lambda: risk_http_bench.run(count=100 if quick else 500))
    decisions = timed(
        "risk core", lambda: risk_bench.bench_decisions(5_000 if args.quick else 20_000)
    )
    record("risk core", "risk.decide", [decisions], unit="decisions per CPU second")
    lines += [
        "## Risk core",
        "",
        f"`risk.decide` on one core: {decisions:,.0f} decisions per CPU second "
        "(varied declarations with credentials, scans, crosswalk and watch list; "
        "parsing not timed). "
        "Goal: >= 20,000/s.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    write_json(Path(args.json_out) if args.json_out else out.with_suffix(".json"), args, load_start)


if __name__ == "__main__":
    main()
