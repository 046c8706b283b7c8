"""``trustlane registry identifiers ...``: the identifier crosswalk (import a CSV file, list).

An import checks every row, reports each refused one with its row number (the header is row
1) and reason, and stores the good rows together in one transaction; rows already linked
(in either order) are reported as ``exists``. Exit codes: 0 every row stored or already
there, 1 some rows were refused (the good ones are stored), 2 the file is unusable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from credentials.errors import TrustlaneError
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, json_always, os_problem, print_json
from node.cli.node_cmd import load_services
from node.services.identifiers import CSV_COLUMNS, MAX_IMPORT_BYTES, link_json
from node.wiring import utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``registry identifiers`` to the ``registry`` group's subcommands."""
    identifiers = sub.add_parser("identifiers", help="the identifier crosswalk (EORI <-> MID...)")
    id_sub = identifiers.add_subparsers(dest="identifiers_command", required=True)
    imp = id_sub.add_parser(
        "import",
        help="link identifiers from a CSV file (header: " + ",".join(CSV_COLUMNS) + ")",
    )
    imp.add_argument("file", help="the CSV file ('note' column optional)")
    imp.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.set_defaults(func=_import)
    show = id_sub.add_parser("list", help="every link")
    show.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    json_always(show)
    show.set_defaults(func=_list)


def _import(args: argparse.Namespace) -> int:
    try:
        with Path(args.file).open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as e:
        fail(os_problem(args.file, "read", e))
    services = load_services(args)
    try:
        report = services.identifiers.import_csv(data, now=utcnow(), actor="cli")
    except TrustlaneError as e:
        fail(f"{args.file}: {e.message}")
    if args.json:
        print_json(report.to_json())
    else:
        for row in report.rows:
            if row.status != "stored":
                print(f"row {row.row}: {row.status}: {row.reason}")
        print(
            f"{report.count('stored')} stored, {report.count('exists')} already linked, "
            f"{report.count('refused')} refused"
        )
    return EXIT_FAILED if report.count("refused") else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    services = load_services(args)
    links, cursor = services.identifiers.links(limit=100, cursor=None)
    out = [link_json(r) for r in links]
    while cursor is not None:
        links, cursor = services.identifiers.links(limit=100, cursor=cursor)
        out += [link_json(r) for r in links]
    print_json(out)
    return EXIT_OK
