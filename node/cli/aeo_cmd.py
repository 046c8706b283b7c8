"""``trustlane aeo issue``: issue an AEO certificate from subject data."""

from __future__ import annotations

import argparse

from credentials.errors import TrustlaneError
from node.cli._io import EXIT_OK, fail, parse_at, print_json, read_json_object
from node.cli.node_cmd import load_services
from node.wiring import utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``aeo`` command group."""
    aeo = sub.add_parser("aeo", help="AEO certificates")
    aeo_sub = aeo.add_subparsers(dest="aeo_command", required=True)
    issue = aeo_sub.add_parser("issue", help="issue an AEOCertificate (prints it)")
    issue.add_argument("subject", help="credentialSubject JSON file ('-' for stdin)")
    issue.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    issue.add_argument("--valid-from", help="start of validity (default: now)")
    issue.add_argument("--valid-until", help="end of validity (default: per configuration)")
    issue.set_defaults(func=_issue)


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
