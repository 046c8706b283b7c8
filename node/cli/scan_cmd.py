"""``trustlane scan parse``: read an N42 or X-ray scan file and show what it says.

Exit codes follow the CLI: 0 the file was read (whatever its result: clear, alarm or
inconclusive), 2 it cannot be read as a scan (one ``trustlane: error:`` line on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from node.cli._io import EXIT_OK, fail, os_problem, print_json
from scan_attestation.adapters import MAX_SCAN_BYTES, parse_scan
from scan_attestation.scan import (
    SCAN_FORMATS,
    N42Summary,
    Number,
    Scan,
    ScanParseError,
    XRaySummary,
)

_DESCRIPTION = """\
Parse a scan file with the matching device adapter and print what it says: instrument,
scan time, ISO 6346 container numbers, result (clear, alarm or inconclusive), the figures
of the format, and one parser note per deviation the adapter tolerated. Formats: ANSI
N42.42-2012 XML from radiation portal monitors (n42) and the X-ray result record (xray).
Without --format, the first significant character decides: '<' is n42, '{' is xray.
"""

# Scan files are untrusted: never send control characters from them to a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scan`` command group."""
    scan = sub.add_parser("scan", help="read X-ray and radiation scan files")
    scan_sub = scan.add_subparsers(dest="scan_command", required=True)
    parse = scan_sub.add_parser(
        "parse", help="parse a scan file and show its summary", description=_DESCRIPTION
    )
    parse.add_argument("file", help="the scan file ('-' for stdin)")
    parse.add_argument(
        "--format",
        choices=SCAN_FORMATS,
        help="the file format (default: sniffed from the content)",
    )
    parse.add_argument("--json", action="store_true", help="print the scan as JSON on stdout")
    parse.set_defaults(func=_parse)


def _read(name: str) -> bytes:
    """Read at most one byte more than any adapter accepts, so oversize input is refused."""
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_SCAN_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_SCAN_BYTES + 1)
    except OSError as e:
        fail(os_problem(name, "read", e))


def _parse(args: argparse.Namespace) -> int:
    data = _read(args.file)
    try:
        scan = parse_scan(data, args.format)
    except ScanParseError as e:
        fail(
            f"{args.file}: {e.message}: check that it is an ANSI N42.42 document or an X-ray "
            "result (--format n42 or xray)"
        )
    if args.json:
        print_json(scan.to_json())
    else:
        sys.stdout.write("\n".join(_summary_lines(scan)) + "\n")
    return EXIT_OK


def _safe(value: object) -> str:
    return _CONTROL.sub("?", str(value))


def _numbers(values: tuple[Number, ...] | None) -> str:
    return "-" if values is None else " ".join(str(v) for v in values)


def _summary_lines(scan: Scan) -> list[str]:
    i = scan.instrument
    maker = " ".join(x for x in (i.manufacturer, i.model) if x) or "unknown instrument"
    ident = f", id {i.identifier}" if i.identifier else ""
    kind = f" ({i.class_code})" if i.class_code else ""
    lines = [
        f"format: {scan.format} ({scan.modality})",
        f"instrument: {maker}{ident}{kind}",
        f"scan time: {scan.scan_time}",
        f"containers: {', '.join(scan.containers) or 'none'}",
        f"result: {scan.result.upper()}",
        f"raw sha256: {scan.raw_sha256}",
    ]
    summary = scan.summary
    lines += _n42_lines(summary) if isinstance(summary, N42Summary) else _xray_lines(summary)
    lines.append(f"parser notes: {len(scan.parser_notes) or 'none'}")
    lines += [f"  - {note}" for note in scan.parser_notes]
    return [_safe(line) for line in lines]


def _n42_lines(summary: N42Summary) -> list[str]:
    lines = ["detectors:"]
    for d in summary.detectors:
        lines.append(
            f"  {d.id}: {d.category or '?'}/{d.kind or '?'}, gross counts "
            f"{_numbers(d.gross_counts)}, spectrum counts "
            f"{'-' if d.spectrum_counts is None else d.spectrum_counts}"
        )
    totals = [f"{c} {_numbers(v)}" for c, v in summary.gross_count_totals]
    spectra = [f"{c} {v}" for c, v in summary.spectrum_count_totals]
    lines.append(f"gross count totals: {'; '.join(totals) or 'none'}")
    lines.append(f"spectrum count totals: {'; '.join(spectra) or 'none'}")
    occupancy = summary.occupancy
    state = {True: "occupied", False: "not occupied", None: "not reported"}[occupancy.occupied]
    if occupancy.occupied:
        state += f" in {occupancy.occupied_measurements} measurement(s)"
        state += f" from {occupancy.first_occupied_time}" if occupancy.first_occupied_time else ""
    lines.append(f"measurements: {len(summary.measurements)}; occupancy: {state}")
    lines.append(f"alarms: {len(summary.alarms) or 'none'}")
    for a in summary.alarms:
        light = f" ({a.light_color})" if a.light_color else ""
        said = f": {a.description}" if a.description else ""
        lines.append(f"  {a.category or '?'}{light} by {' '.join(a.detectors) or '?'}{said}")
    lines.append(f"nuclides: {len(summary.nuclides) or 'none'}")
    for n in summary.nuclides:
        found = {True: "identified", False: "not identified", None: "identification unknown"}
        lines.append(
            f"  {n.name or '?'} [{n.category or '?'}] {found[n.identified]}, "
            f"confidence {n.confidence or '?'}"
        )
    lines.append(f"faults: {len(summary.faults) or 'none'}")
    for f in summary.faults:
        lines.append(
            f"  {f.code or '?'} {f.description or '?'} ({f.severity or '?'}) "
            f"in {', '.join(f.sources)}"
        )
    return lines


def _xray_lines(summary: XRaySummary) -> list[str]:
    algorithm, operator = summary.algorithm, summary.operator_verdict
    lines = [f"image digest: {summary.image_digest}"]
    if algorithm is not None:
        lines.append(f"algorithm: {algorithm.name} {algorithm.version}: {algorithm.verdict}")
    if operator is not None:
        lines.append(f"operator verdict: {operator.verdict} (operator {operator.operator_id})")
    lines.append(f"regions of interest: {len(summary.regions_of_interest) or 'none'}")
    for r in summary.regions_of_interest:
        lines.append(f"  {r.label}: score {r.score} at x={r.x} y={r.y}, {r.width}x{r.height}")
    return lines
