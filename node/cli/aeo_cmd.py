"""``trustlane aeo issue|import``: issue AEO certificates from subject data or a register."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import segno

from credentials.errors import TrustlaneError
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    domain_problem,
    fail,
    json_always,
    os_problem,
    parse_at,
    print_json,
    progress_wanted,
    read_json_object,
)
from node.cli.node_cmd import load_services
from node.services.aeo_import import (
    MAX_FILE_BYTES,
    Register,
    RegisterError,
    RowError,
    format_of,
    import_register,
    parse_register,
)
from node.wiring import utcnow

_SHOWN_ERRORS = 20  # problems printed on stderr when there is no --errors file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``aeo`` command group."""
    aeo = sub.add_parser("aeo", help="AEO certificates")
    aeo_sub = aeo.add_subparsers(dest="aeo_command", required=True)
    issue = aeo_sub.add_parser("issue", help="issue an AEOCertificate (prints it)")
    issue.add_argument("subject", help="credentialSubject JSON file ('-' for stdin)")
    issue.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    issue.add_argument("--valid-from", help="start of validity (default: now)")
    issue.add_argument("--valid-until", help="end of validity (default: per configuration)")
    json_always(issue)
    issue.set_defaults(func=_issue)

    imp = aeo_sub.add_parser(
        "import",
        help="issue credentials for a national AEO register (CSV or JSON Lines), idempotently",
    )
    imp.add_argument("register", help="FILE.csv or FILE.jsonl ('-' for stdin, with --format)")
    imp.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    imp.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file name")
    imp.add_argument(
        "--errors", metavar="REPORT.csv", help="write every problem (row,field,reason)"
    )
    imp.add_argument(
        "--progress",
        action="store_true",
        help="show progress even without a terminal or with --json",
    )
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.add_argument(
        "--batch-size", type=int, default=500, help="rows per transaction (default 500)"
    )
    imp.set_defaults(func=_import)

    offer = aeo_sub.add_parser(
        "offer",
        help="offer a trader its AEO credential for its wallet (OpenID4VCI pre-authorised code)",
    )
    offer.add_argument(
        "trader",
        metavar="TRADER_ID",
        help="the trader's register key SCHEME:VALUE (as 'aeo import' recorded it, e.g. "
        "EORI:DE123456789012345) or the urn:uuid id of an AEO credential this node issued",
    )
    offer.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    shown = offer.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the offer and PIN as JSON")
    shown.add_argument(
        "--qr",
        action="store_true",
        help="also print the offer link as a QR code for the trader's wallet app to scan "
        "(light on dark, as on most terminals)",
    )
    offer.set_defaults(func=_offer)


def _issue(args: argparse.Namespace) -> int:
    subject = read_json_object(args.subject)
    services = load_services(args)
    try:
        signed = services.issuance.issue_aeo(
            subject,
            now=utcnow(),
            actor="cli",
            valid_from=parse_at(args.valid_from) if args.valid_from else None,
            valid_until=parse_at(args.valid_until) if args.valid_until else None,
        )
    except TrustlaneError as e:
        fail(e.diagnostics())
    print_json(signed)
    return EXIT_OK


_OFFER_HINTS = {
    "UNKNOWN_TRADER": "pass the register key as SCHEME:VALUE exactly as 'trustlane aeo import' "
    "read it, or the urn:uuid id of an AEO credential this node issued",
}


def _offer(args: argparse.Namespace) -> int:
    services = load_services(args)
    try:
        created = services.offers.create_offer(args.trader, now=utcnow(), actor="cli:aeo-offer")
    except TrustlaneError as e:
        fail(domain_problem(e, _OFFER_HINTS))
    finally:
        services.db.dispose()
    body = created.to_dict()
    if args.json:
        print_json(body)
    else:
        print(f"credential offer for {created.trader} (from {created.source_credential_id}):")
        print(body["credentialOfferUrl"])
        if args.qr:
            segno.make(created.url, error="m", micro=False).terminal(out=sys.stdout, compact=True)
        print(f"transaction code (send it by another channel): {created.tx_code}")
        print(f"valid until {body['expires']}, once")
    return EXIT_OK


def _read_register(name: str, fmt: str | None) -> Register:
    fmt = "csv" if fmt is None and name == "-" else fmt
    try:
        kind = format_of(name, fmt)
        if name == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except RegisterError as e:
        fail(e.message)
    except OSError as e:
        fail(os_problem(name, "read", e))
    try:
        return parse_register(data, kind)
    except RegisterError as e:
        fail(f"{name}: {e.message}; fix the register and run the import again")


class _Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._started = time.perf_counter()
        self._shown = False

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // total if total else width
        rate = done / max(time.perf_counter() - self._started, 1e-9)
        sys.stderr.write(
            f"\rimporting [{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows"
            f" ({100 * done // max(total, 1)}%, {rate:,.0f} rows/s)"
        )
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _open_report(path: str | None) -> tuple[IO[str] | None, csv.DictWriter[str] | None]:
    if path is None:
        return None, None
    try:
        handle = Path(path).open("w", encoding="utf-8", newline="")
    except OSError as e:
        fail(os_problem(path, "write", e))
    writer = csv.DictWriter(handle, fieldnames=["row", "field", "reason"])
    writer.writeheader()
    return handle, writer


def _import(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= 10_000:
        fail("--batch-size must be between 1 and 10000")
    register = _read_register(args.register, args.format)
    handle, writer = _open_report(args.errors)
    progress = _Progress(progress_wanted(args))
    shown: list[RowError] = []

    def on_errors(errors: Sequence[RowError]) -> None:
        if writer is not None and handle is not None:
            writer.writerows({"row": e.row, "field": e.field, "reason": e.reason} for e in errors)
            handle.flush()
        else:
            shown.extend(errors[: _SHOWN_ERRORS + 1 - len(shown)])

    try:
        services = load_services(args)
        try:
            summary = import_register(
                register,
                issuance=services.issuance,
                db=services.db,
                clock=services.clock,
                actor="cli:aeo-import",
                batch_size=args.batch_size,
                on_progress=progress.update,
                on_errors=on_errors,
            )
        except TrustlaneError as e:
            progress.close()
            fail(
                f"{e.diagnostics()}; batches committed before stay issued (a re-run skips them)",
                EXIT_FAILED,
            )
        finally:
            services.db.dispose()
    finally:
        if handle is not None:
            handle.close()
    progress.close()
    for problem in shown[:_SHOWN_ERRORS]:
        print(f"trustlane: row {problem.row}: {problem.field}: {problem.reason}", file=sys.stderr)
    if len(summary.errors) > _SHOWN_ERRORS and writer is None:
        more = len(summary.errors) - _SHOWN_ERRORS
        print(f"trustlane: ... and {more} more (use --errors FILE for all)", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(summary.as_json()) + "\n")
    else:
        print(
            f"issued {summary.issued}, skipped {summary.skipped}, failed {summary.failed} "
            f"of {summary.rows} rows in {summary.seconds:.2f} s ({summary.rate:,.0f} credentials/s)"
        )
    return EXIT_FAILED if summary.failed else EXIT_OK
