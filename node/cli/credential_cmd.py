"""``trustlane credential verify|suspend|lift``: verification, and suspensions at this node.

``suspend`` and ``lift`` change a suspension of a credential this node issued, as
``POST /credentials/status`` does: ``--reason`` says why (a credential issued before reason
codes is suspended without one).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from credentials.data_integrity import DIDKeyResolver
from credentials.errors import TrustlaneError
from credentials.result import Check, VerificationResult
from credentials.strict_json import JSONObject, loads_object
from credentials.verification import get_credential_verification_result
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    domain_problem,
    fail,
    parse_at,
    print_json,
    read_bytes,
)
from node.services.status import DEFAULT_SUSPENSION_REASON, SUSPENSION_REASONS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``credential`` command group."""
    cred = sub.add_parser("credential", help="verify verifiable credentials")
    cred_sub = cred.add_subparsers(dest="credential_command", required=True)
    verify = cred_sub.add_parser(
        "verify", help="data model, proofs, issuer binding and validity period"
    )
    verify.add_argument("file", help="credential JSON ('-' for stdin)")
    verify.add_argument("--json", action="store_true", help="print a JSON result")
    verify.add_argument("--at", help="reference time (default: now)")
    verify.add_argument(
        "--data-dir",
        help="verify as this node would: its registry, peers' status lists and agreements "
        "(without it: did:key only, no status)",
    )
    verify.set_defaults(func=_verify)
    for action, help_text in (
        ("suspend", "suspend a credential this node issued (verifiers refuse its benefits)"),
        ("lift", "lift the suspension of a credential this node issued"),
    ):
        change = cred_sub.add_parser(action, help=help_text)
        change.add_argument("id", metavar="credential-id", help="the credential id (urn:uuid:...)")
        change.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
        if action == "suspend":
            change.add_argument(
                "--reason",
                choices=[r.code for r in SUSPENSION_REASONS],
                help="why, as verifiers will read it: "
                + "; ".join(f"{r.code}: {r.message}" for r in SUSPENSION_REASONS)
                + f" (default {DEFAULT_SUSPENSION_REASON}; not for a credential issued "
                "before reason codes)",
            )
        change.add_argument("--json", action="store_true", help="print the change as JSON")
        change.set_defaults(func=_change, suspend=action == "suspend")


def _verify(args: argparse.Namespace) -> int:
    # Exit 2 only for usage errors and a file that cannot be read; a document that was read
    # but is not an acceptable credential (not strict JSON, not an object) fails
    # verification: exit 1, and the result's data_model check says why.
    data = read_bytes(args.file)
    reference = parse_at(args.at) if args.at else None
    benefits: list[str] = []
    try:
        document = loads_object(data)
    except TrustlaneError as e:
        result = VerificationResult(
            (Check.failed("data_model", e.code, f"not a strict JSON object: {e.message}"),)
        )
        body = result.to_dict()
    else:
        result, body, benefits = _verify_document(args, document, reference)
    if args.json:
        print_json(body)
    else:
        for check in result.checks:
            suffix = f" [{check.code}]" if check.code else ""
            print(f"{check.name}: {check.status.value}{suffix}: {check.detail}")
        print("verified" if result.verified else "NOT verified")
        if benefits:
            print(f"benefits: {', '.join(benefits)}")
    return EXIT_OK if result.verified else EXIT_FAILED


def _verify_document(
    args: argparse.Namespace, document: JSONObject, at: datetime | None
) -> tuple[VerificationResult, dict[str, Any], list[str]]:
    benefits: list[str] = []
    if args.data_dir:
        from node.cli.node_cmd import load_services
        from node.wiring import utcnow

        services = load_services(args)
        outcome = services.verification.verify(document, now=utcnow(), at=at)
        if outcome.refetch:
            # A command, not a request: fetch the missing or stale lists now and ask again.
            for url in sorted(outcome.refetch):
                services.sync.sync_status_list(url, utcnow())
            outcome = services.verification.verify(document, now=utcnow(), at=at)
        result, body = outcome.result, outcome.to_dict()
        benefits = sorted(outcome.benefits)
    else:
        result = get_credential_verification_result(
            document, resolver=DIDKeyResolver(), now=at or datetime.now(UTC)
        )
        body = result.to_dict()
    return result, body, benefits


def _change(args: argparse.Namespace) -> int:
    from node.api.credentials import status_change_json
    from node.cli.node_cmd import load_services
    from node.wiring import utcnow

    services = load_services(args)
    try:
        change = services.status.set_status(
            args.id,
            "suspension",
            args.suspend,
            now=utcnow(),
            actor="cli",
            reason=getattr(args, "reason", None),
        )
    except TrustlaneError as e:
        fail(
            domain_problem(
                e,
                {
                    "NOT_FOUND": "check the id: 'trustlane credential verify' reads a credential",
                    "STATUS_REASON_UNSUPPORTED": "run it again without --reason",
                },
            )
        )
    if args.json:
        print_json(status_change_json(change))
    else:
        what = change.status_message or ("suspended" if change.status else "not suspended")
        print(f"{change.credential_id}: {what}" + ("" if change.changed else " (unchanged)"))
    return EXIT_OK
