"""``trustlane audit bundle|log``: check a scan attestation bundle offline, or a node's log.

``audit bundle`` reads a bundle (what ``POST /scans`` answers), the auditor's trust file and
optionally other checkpoints and consistency proofs, and prints one line per step of
:func:`scan_attestation.audit.audit_bundle` (``ok  <step>: detail``, ``FAIL <step>: reason``
or ``skip <step>: reason``). ``audit log`` downloads a node's checkpoint and every entry
bundle, rebuilds the tree and compares it with the checkpoint (and with an older one).

Exit codes: 0 every step passed (a skipped step is no failure), 1 a step failed, 2 an input
could not be read or fetched (one ``trustlane: error:`` line on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from credentials.errors import TrustlaneError
from credentials.strict_json import JSONObject
from federation_config.settings import did_web_for
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    fail,
    fetch_problem,
    print_json,
    progress_wanted,
    read_bytes,
    read_json_object,
)
from node.federation.fetcher import FetchError, RequestsFetcher
from registry.peer_origin import peer_url_issue
from scan_attestation.audit import (
    AuditReport,
    ConsistencyProof,
    LogRebuild,
    OtherCheckpoint,
    StepResult,
    StepStatus,
    TrustedNodes,
    audit_bundle,
    check_checkpoint,
    check_from_checkpoint,
    check_rebuilt_tree,
    entry_bundle_paths,
)
from scan_attestation.checkpoint import Checkpoint

__all__ = ["Fetch", "http_fetch", "register"]

#: Fetches a URL's body; raises :class:`FetchError`. Tests swap :func:`http_fetch`.
Fetch = Callable[[str], bytes]

# An entry bundle holds at most 256 entries of at most 4 KiB (log_entry's cap) each.
_MAX_RESPONSE = 2 * 1024 * 1024
_MAX_CHECKPOINT = 64 * 1024
_DEFAULT_MAX_ENTRIES = 10_000_000
_MAX_DETAIL = 500
# Bundles and logs are untrusted: never send control characters from them to a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LABELS = {StepStatus.OK: "ok  ", StepStatus.FAIL: "FAIL", StepStatus.SKIPPED: "skip"}

_BUNDLE_DESCRIPTION = """\
Check a scan attestation bundle offline, step by step: bundle, device-authorization,
device-proof, node-proof, inclusion, checkpoint, witnesses, consistency. The trust file maps
each trusted node's did:web to its Ed25519 Multikeys (as 'trustlane node show --json' prints
them); the countersigning node must be in it, the others count as witnesses.
"""

_LOG_DESCRIPTION = """\
Download URL/checkpoint and every entry bundle of the log (URL is the node's origin; its
did:web is derived from the host and port), rebuild the Merkle tree and check its root
against the checkpoint, signed by a key the trust file lists for that node.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``audit`` command group."""
    audit = sub.add_parser("audit", help="check attestation bundles and transparency logs")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    bundle = audit_sub.add_parser(
        "bundle", help="check a scan attestation bundle offline", description=_BUNDLE_DESCRIPTION
    )
    bundle.add_argument("file", help="the bundle JSON ('-' for stdin)")
    bundle.add_argument("--trust", metavar="FILE", help="JSON: did:web -> [Multikey, ...]")
    bundle.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="another signed checkpoint of the node's log to compare with (repeatable)",
    )
    bundle.add_argument(
        "--proof",
        action="append",
        default=[],
        metavar="FILE",
        help="a consistency proof as GET /log/proof/consistency answers it (repeatable)",
    )
    bundle.add_argument(
        "--min-witnesses",
        type=_count,
        default=0,
        metavar="N",
        help="trusted witnesses that must have cosigned the checkpoint (default 0)",
    )
    bundle.add_argument("--json", action="store_true", help="print the steps as JSON")
    bundle.set_defaults(func=_audit_bundle)

    log = audit_sub.add_parser(
        "log", help="rebuild a node's log and check it", description=_LOG_DESCRIPTION
    )
    log.add_argument("url", help="the node's base URL, e.g. https://eu.customs.example:8443")
    log.add_argument("--trust", metavar="FILE", help="JSON: did:web -> [Multikey, ...]")
    log.add_argument(
        "--from-checkpoint",
        metavar="FILE",
        help="an older signed checkpoint the log must extend",
    )
    log.add_argument("--ca-bundle", metavar="FILE", help="CA certificates for the node's TLS")
    log.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (30)"
    )
    log.add_argument(
        "--max-entries",
        type=_count,
        default=_DEFAULT_MAX_ENTRIES,
        metavar="N",
        help=f"refuse a log larger than this (default {_DEFAULT_MAX_ENTRIES})",
    )
    log.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even without a terminal or with --json",
    )
    log.add_argument("--json", action="store_true", help="print the steps as JSON")
    log.set_defaults(func=_audit_log)


def _count(text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text[:20]!r}")
    return int(text)


# -- inputs --------------------------------------------------------------------------------


def _load_trust(name: str | None) -> TrustedNodes:
    if name is None:
        print(
            "trustlane: warning: no --trust file: no node key is pinned, so nothing a node "
            "signed can be verified",
            file=sys.stderr,
        )
        return TrustedNodes({})
    try:
        return TrustedNodes.from_json(read_json_object(name))
    except TrustlaneError as e:
        fail(f"{name}: {e.message}")


def _load_proof(name: str) -> ConsistencyProof:
    try:
        return ConsistencyProof.from_json(read_json_object(name))
    except TrustlaneError as e:
        fail(f"{name}: {e.message}")


# -- output --------------------------------------------------------------------------------


def _safe(text: str) -> str:
    text = _CONTROL.sub("?", text)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _show(report: AuditReport, *, as_json: bool, extra: JSONObject | None = None) -> int:
    steps = tuple(replace(s, detail=_safe(s.detail)) for s in report.steps)
    report = AuditReport(steps)
    if as_json:
        print_json({**report.to_json(), **(extra or {})})
    else:
        for s in steps:
            sys.stdout.write(f"{_LABELS[s.status]} {s.step}: {s.detail}\n")
    return EXIT_OK if report.ok else EXIT_FAILED


# -- audit bundle --------------------------------------------------------------------------


def _audit_bundle(args: argparse.Namespace) -> int:
    trust = _load_trust(args.trust)
    document = read_json_object(args.file)
    others = [OtherCheckpoint(name, read_bytes(name)) for name in args.checkpoint]
    proofs = [_load_proof(name) for name in args.proof]
    report = audit_bundle(
        document,
        trust,
        checkpoints=others,
        proofs=proofs,
        min_witnesses=args.min_witnesses,
    )
    return _show(report, as_json=args.json)


# -- audit log -----------------------------------------------------------------------------


def http_fetch(*, ca_bundle: str | None, timeout: float) -> Fetch:
    """The HTTP getter: no redirects, ``timeout`` per request, bodies of at most 2 MiB.

    Args:
        ca_bundle: CA certificates to verify the node's TLS with (None: the system's).
        timeout: Seconds for each whole request.

    Returns:
        A function of a URL that returns the 200 answer's body and raises
        :class:`~node.federation.fetcher.FetchError` otherwise.
    """
    fetcher = RequestsFetcher(timeout=timeout, max_bytes=_MAX_RESPONSE)

    def fetch(url: str) -> bytes:
        return fetcher.get(url, ca_bundle=ca_bundle).body

    return fetch


def _base_url(url: str) -> tuple[str, str]:
    """The node's origin (no trailing slash) and its did:web; https unless loopback."""
    issue = peer_url_issue(url, node_base_url=None, origin=True)
    if issue is not None:
        fail(f"the node URL {issue}: give the node's origin, e.g. https://customs.example")
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    try:
        return base, did_web_for(base)
    except TrustlaneError as e:
        fail(e.message)


class _Progress:
    """An in-place counter on stderr."""

    def __init__(self, stream: TextIO, total: int, *, enabled: bool) -> None:
        self._stream = stream
        self._total = total
        self._enabled = enabled and total > 0

    def update(self, done: int) -> None:
        if self._enabled:
            self._stream.write(f"\rentries {done}/{self._total}")
            self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()


def _get(fetch: Fetch, url: str) -> bytes:
    try:
        return fetch(url)
    except FetchError as e:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        fail(fetch_problem(e.message, origin, status=getattr(e, "status_code", None)))


def _audit_log(args: argparse.Namespace) -> int:
    base, node_did = _base_url(args.url)
    trust = _load_trust(args.trust)
    old = None if args.from_checkpoint is None else read_bytes(args.from_checkpoint)
    if args.ca_bundle is not None and not Path(args.ca_bundle).is_file():
        fail(f"{args.ca_bundle}: no such CA bundle file")
    if not 0 < args.timeout <= 3600:
        fail("--timeout must be between 0 and 3600 seconds")
    fetch = http_fetch(ca_bundle=args.ca_bundle, timeout=args.timeout)
    note = _get(fetch, f"{base}/checkpoint")
    if len(note) > _MAX_CHECKPOINT:
        fail(f"{base}/checkpoint: larger than {_MAX_CHECKPOINT} bytes")
    first, checkpoint = check_checkpoint(note, node_did, trust)
    extra: JSONObject = {"url": base, "did": node_did}
    if checkpoint is None:
        return _show(AuditReport((first,)), as_json=args.json, extra=extra)
    if checkpoint.size > args.max_entries:
        fail(f"the log holds {checkpoint.size} entries, more than --max-entries allows")
    steps, types = _rebuild(fetch, base, checkpoint, node_did, trust, old, args)
    extra["size"] = checkpoint.size
    extra["entryTypes"] = {_safe(name): count for name, count in types.items()}
    return _show(AuditReport((first, *steps)), as_json=args.json, extra=extra)


def _rebuild(
    fetch: Fetch,
    base: str,
    checkpoint: Checkpoint,
    node_did: str,
    trust: TrustedNodes,
    old: bytes | None,
    args: argparse.Namespace,
) -> tuple[list[StepResult], dict[str, int]]:
    """Fetch every entry bundle, rebuild the tree, compare it with the checkpoints."""
    rebuild = LogRebuild()
    progress = _Progress(sys.stderr, checkpoint.size, enabled=progress_wanted(args))
    try:
        for path, width in entry_bundle_paths(checkpoint.size):
            data = _get(fetch, f"{base}/{path}")
            try:
                rebuild.add_bundle(data, width)
            except ValueError as e:
                unread = "the entries could not all be read"
                return [
                    StepResult("entries", StepStatus.FAIL, f"{path}: {e}"),
                    StepResult("tree", StepStatus.SKIPPED, unread),
                    StepResult("from-checkpoint", StepStatus.SKIPPED, unread),
                ], rebuild.entry_types()
            progress.update(rebuild.size)
    finally:
        progress.close()
    steps = [rebuild.check_entries(), check_rebuilt_tree(rebuild, checkpoint)]
    if old is None:
        steps.append(
            StepResult("from-checkpoint", StepStatus.SKIPPED, "no --from-checkpoint given")
        )
    else:
        label = str(args.from_checkpoint)
        other = OtherCheckpoint(label, old)
        steps.append(check_from_checkpoint(other, rebuild, checkpoint, node_did, trust))
    return steps, rebuild.entry_types()
