"""``trustlane device simulate``: a registered device sends realistic scans to its node.

For demos and load. The command reads the directory ``trustlane device register --out``
wrote (``device.json``, ``device-key.json``, ``authorization.json``), then ``--count``
times: draws a scan for the device's authorised modalities
(:func:`scan_attestation.simulation.simulate_scan`: the N42.42 samples shipped in
``scan_attestation/samples`` replayed at the current time, or an X-ray result record),
builds the ``ScanAttestation`` for the device's site and authorisation, signs it with the
device key (``created`` = now) and POSTs it to ``<node>/scans``. Each answer is counted:
``201`` accepted, anything else refused under the problem's ``code`` (``HTTP_<status>``
when the answer has none).

``--seed`` makes the scans repeatable (modality, alarm, containers, seals, documents);
attestation ids are always fresh, so a second run is never refused as a replay.

Output: a progress counter on stderr (on a terminal without ``--json``, or with
``--progress``), then a summary on stdout, or with ``--json``
``{"submitted", "accepted", "refused": {code: n}, "alarms", "seconds", "perSecond"}``.
Exit 0 when every scan was accepted, 1 when any was refused, 2 for bad usage, an unreadable
device directory or a node that cannot be reached (one ``trustlane: error:`` line).

HTTP goes through :func:`http_poster` (``requests``: a timeout on the whole exchange, TLS
verified against ``--ca-bundle`` or the system's CAs, redirects not followed); tests swap
it for a function of their own.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TextIO

from credentials.errors import TrustlaneError
from credentials.keys import PrivateKey, key_pair_from_dict
from credentials.strict_json import JSONObject, loads_object
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    fail,
    fetch_problem,
    print_json,
    progress_wanted,
    read_json_object,
)
from node.federation.fetcher import FetchError, PeerHTTPError, RequestsFetcher
from registry.peer_origin import peer_url_issue
from scan_attestation.attestation import (
    DeviceGrant,
    build_scan_attestation,
    read_device_authorization,
    sign_as_device,
)
from scan_attestation.scan import ScanError
from scan_attestation.simulation import N42Samples, simulate_scan

__all__ = [
    "DeviceFiles",
    "Post",
    "Tally",
    "add_parser",
    "http_poster",
    "load_samples",
    "read_device_dir",
    "submit_scans",
]

Post = Callable[[str, JSONObject], tuple[int, JSONObject]]
"""POST a JSON document to a URL; return the status and the JSON answer ({} if none).

Raises :class:`~node.federation.fetcher.FetchError` when the node cannot be reached.
"""

MAX_COUNT = 100_000
_TIMEOUT = 30.0
_MAX_RESPONSE = 4 * 1024 * 1024
_DEFAULT_ALARM_RATE = 0.05
# Problem codes are printed: accept only what a trustlane node sends.
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}\Z")
_CODE_IN_TEXT = re.compile(rb'"code"\s*:\s*"([A-Z][A-Z0-9_]{0,63})"')
_PROGRESS_INTERVAL = 0.1
_DESCRIPTION = """\
Send --count scans from a registered device to its node (POST /scans), for demos and load.
Each scan is drawn for one of the device's modalities (N42.42 samples replayed at the current
time for radiation portals, a result record for X-ray scanners), alarms with probability
--alarm-rate, names random valid containers, and is signed with the device's key. Exit 0 when
the node accepted every scan, 1 when it refused any, 2 when it cannot be reached.
"""


def add_parser(device_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate`` to the ``device`` command group."""
    sim = device_sub.add_parser(
        "simulate",
        help="send realistic signed scans from a registered device (demos, load)",
        description=_DESCRIPTION,
    )
    sim.add_argument("--device", required=True, metavar="DIR", help="the device's directory")
    sim.add_argument("--node", metavar="URL", help="the node (default: nodeUrl of device.json)")
    sim.add_argument(
        "--count", required=True, type=int, metavar="N", help=f"scans to send (1-{MAX_COUNT})"
    )
    sim.add_argument(
        "--alarm-rate",
        type=float,
        default=_DEFAULT_ALARM_RATE,
        metavar="R",
        help=f"probability that a scan alarms, 0-1 (default {_DEFAULT_ALARM_RATE})",
    )
    sim.add_argument("--seed", type=int, metavar="S", help="seed for repeatable scans")
    sim.add_argument("--ca-bundle", metavar="FILE", help="CA certificates for the node's TLS")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    sim.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even without a terminal or with --json",
    )
    sim.set_defaults(func=_simulate)


# -- the device's files ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFiles:
    """What ``trustlane device register --out DIR`` wrote for a device."""

    name: str
    key: PrivateKey
    grant: DeviceGrant
    node_url: str | None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_device_dir(directory: Path) -> DeviceFiles:
    """Read and cross-check a device directory; any problem stops the command (exit 2)."""
    if not directory.is_dir():
        fail(f"{directory}: no such device directory (trustlane device register --out makes one)")
    facts = read_json_object(str(directory / "device.json"))
    key_path = directory / "device-key.json"
    try:
        key = key_pair_from_dict(read_json_object(str(key_path)))
    except TrustlaneError as e:
        fail(f"{key_path}: {_one_line(e.diagnostics())}")
    authorization_path = directory / "authorization.json"
    try:
        grant = read_device_authorization(read_json_object(str(authorization_path)))
    except TrustlaneError as e:
        fail(f"{authorization_path}: {_one_line(e.diagnostics())}")
    did = key.public_key.did
    if grant.device != did or facts.get("did", did) != did:
        fail(f"{directory}: the key, device.json and authorization.json name different devices")
    name = facts.get("name")
    node_url = facts.get("nodeUrl")
    return DeviceFiles(
        name=name if isinstance(name, str) and name else grant.name,
        key=key,
        grant=grant,
        node_url=node_url if isinstance(node_url, str) else None,
    )


def load_samples() -> N42Samples:
    """The N42.42 samples shipped with the package (``scan_attestation/samples``)."""
    folder = resources.files("scan_attestation") / "samples"
    try:
        return N42Samples.from_bytes(
            rpm_clear=(folder / "AnnexD.n42").read_bytes(),
            rpm_alarm=(folder / "AnnexD_alarmed.n42").read_bytes(),
            spectroscopic=(folder / "AnnexE.n42").read_bytes(),
        )
    except (OSError, ScanError) as e:
        fail(f"the N42 samples of this installation cannot be used: {_one_line(str(e))}")


# -- HTTP ------------------------------------------------------------------------------------


def _answer(body: bytes) -> JSONObject:
    """The JSON object of an answer; ``{}``, or only its ``code``, when it is cut or not JSON."""
    try:
        return loads_object(body)
    except TrustlaneError:
        found = _CODE_IN_TEXT.search(body)
        return {"code": found.group(1).decode("ascii")} if found else {}


def http_poster(*, ca_bundle: str | None, timeout: float = _TIMEOUT) -> Post:
    """The default :data:`Post`: ``requests`` through the node's fetcher.

    Args:
        ca_bundle: CA certificates to verify the node's TLS with (None: the system's).
        timeout: Seconds for each whole exchange.

    Returns:
        A function that POSTs a document as JSON, follows no redirect and returns the
        status and the answer; it raises ``FetchError`` when the node cannot be reached.
    """
    fetcher = RequestsFetcher(timeout=timeout, max_bytes=_MAX_RESPONSE)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def post(url: str, document: JSONObject) -> tuple[int, JSONObject]:
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        try:
            answer = fetcher.post(url, body=body, headers=headers, ca_bundle=ca_bundle)
        except PeerHTTPError as e:
            return e.status_code, _answer(e.body)
        return answer.status, _answer(answer.body)

    return post


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the node answered so far."""

    submitted: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    alarms: int = 0
    seconds: float = 0.0

    def to_json(self) -> JSONObject:
        """``{"submitted", "accepted", "refused": {code: n}, "alarms", "seconds", "perSecond"}``."""
        rate = self.submitted / self.seconds if self.seconds > 0 else 0.0
        return {
            "submitted": self.submitted,
            "accepted": self.accepted,
            "refused": dict(sorted(self.refused.items())),
            "alarms": self.alarms,
            "seconds": round(self.seconds, 3),
            "perSecond": round(rate, 1),
        }


class _Progress:
    """``scans done/total`` rewritten in place on a stream, at most ten times a second."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self._stream = stream
        self._total = total
        self._last = 0.0

    def update(self, tally: Tally) -> None:
        now = time.monotonic()
        if self._stream is None or (
            tally.submitted < self._total and now - self._last < _PROGRESS_INTERVAL
        ):
            return
        self._last = now
        refused = sum(tally.refused.values())
        self._stream.write(
            f"\rscans {tally.submitted}/{self._total}: {tally.accepted} accepted, {refused} refused"
        )
        self._stream.flush()

    def close(self) -> None:
        if self._stream is not None and self._last:
            self._stream.write("\n")
            self._stream.flush()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _refusal_code(status: int, body: JSONObject) -> str:
    code = body.get("code")
    return code if isinstance(code, str) and _CODE.match(code) else f"HTTP_{status}"


def submit_scans(
    device: DeviceFiles,
    *,
    url: str,
    count: int,
    alarm_rate: float,
    rng: random.Random,
    samples: N42Samples,
    post: Post,
    clock: Callable[[], datetime] = _utcnow,
    progress: TextIO | None = None,
) -> Tally:
    """Draw, sign and POST ``count`` scans to ``url``; count the answers.

    Raises:
        CLIError: The node cannot be reached or redirects (exit 2); the message says how
            many scans were submitted before.
    """
    tally = Tally()
    shown = _Progress(progress, count)
    grant = device.grant
    start = time.monotonic()
    try:
        for _ in range(count):
            # Whole seconds: the proof's ``created`` has no fraction, and the scan must not
            # be later than its signature.
            now = clock().astimezone(UTC).replace(microsecond=0)
            drawn = simulate_scan(
                modalities=grant.modalities,
                rng=rng,
                now=now,
                samples=samples,
                alarm_rate=alarm_rate,
                scanner_id=device.name,
            )
            unsigned = build_scan_attestation(
                attestation_id=f"urn:uuid:{uuid.uuid4()}",
                device=device.key.public_key.did,
                authorization_id=grant.credential_id,
                site=grant.site,
                scan=drawn.scan_json,
                containers=drawn.containers,
                seals=drawn.seals,
                transport_document=drawn.transport_document,
            )
            signed = sign_as_device(unsigned, device.key, created=now)
            try:
                status, body = post(url, signed)
            except FetchError as e:
                where = f"{_one_line(e.message)} (after {tally.submitted} of {count} scans)"
                status_code = getattr(e, "status_code", None)
                fail(fetch_problem(where, url.removesuffix("/scans"), status=status_code))
            if 300 <= status < 400:
                fail(f"{url} answered HTTP {status}, a redirect (not followed): use --node")
            tally.submitted += 1
            if drawn.result == "alarm":
                tally.alarms += 1
            if status == 201:
                tally.accepted += 1
            else:
                tally.refused[_refusal_code(status, body)] += 1
            shown.update(tally)
    except TrustlaneError as e:
        fail(f"cannot simulate a scan for {device.name}: {_one_line(e.diagnostics())}")
    finally:
        tally.seconds = time.monotonic() - start
        shown.close()
    return tally


def _node_url(args: argparse.Namespace, device: DeviceFiles) -> str:
    url = args.node or device.node_url
    if not url:
        fail("--node URL is needed: device.json names no nodeUrl")
    issue = peer_url_issue(url, node_base_url=None, origin=True)
    if issue is not None:
        fail(f"the node URL {issue}: give --node the node's origin, e.g. https://customs.example")
    return f"{url.rstrip('/')}/scans"


def _summary(device: DeviceFiles, url: str, tally: Tally) -> str:
    refused = sum(tally.refused.values())
    codes = ", ".join(f"{code} {n}" for code, n in sorted(tally.refused.items()))
    rate = tally.to_json()["perSecond"]
    return (
        f"{device.name}: {tally.submitted} scans to {url} in {tally.seconds:.1f} s "
        f"({rate}/s): {tally.accepted} accepted, {refused} refused"
        + (f" ({codes})" if codes else "")
        + f"; {tally.alarms} alarms"
    )


def _simulate(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= MAX_COUNT:
        fail(f"--count must be between 1 and {MAX_COUNT}")
    if not 0.0 <= args.alarm_rate <= 1.0:
        fail("--alarm-rate must be between 0 and 1")
    if args.ca_bundle is not None and not Path(args.ca_bundle).is_file():
        fail(f"{args.ca_bundle}: no such CA bundle file")
    device = read_device_dir(Path(args.device))
    url = _node_url(args, device)
    tally = submit_scans(
        device,
        url=url,
        count=args.count,
        alarm_rate=args.alarm_rate,
        # Not for secrets: the seed only makes simulated scan contents repeatable.
        rng=random.Random(args.seed),  # noqa: S311
        samples=load_samples(),
        post=http_poster(ca_bundle=args.ca_bundle),
        progress=sys.stderr if progress_wanted(args) else None,
    )
    if args.json:
        print_json(tally.to_json())
    else:
        print(_summary(device, url, tally))
    return EXIT_OK if tally.accepted == tally.submitted else EXIT_FAILED
