"""``trustlane risk ...``: assess a declaration at this node, and keep its watch list.

``risk assess`` runs in-process against the node's data directory, exactly as
``POST /risk/assess`` would: the presentation is verified (its challenge spent), each
attestation bundle checked, the decision made with the node's policy and stored. Exit codes
follow the CLI: 0 a decision was made (whatever the channel), 2 the input is unusable (one
``trustlane: error:`` line on stderr).
"""

from __future__ import annotations

import argparse

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.strict_json import JSONObject, JSONValue
from node.cli._io import EXIT_OK, fail, json_always, print_json, read_json_object
from node.cli.node_cmd import load_services
from node.services.risk_request import MAX_ATTESTATIONS, parse_assessment_request
from node.storage import risk_repo
from node.wiring import utcnow
from risk import MalformedDeclarationError, PartyIdentifier


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``risk`` command group."""
    risk = sub.add_parser("risk", help="risk assessment: decide the control channel")
    risk_sub = risk.add_subparsers(dest="risk_command", required=True)

    assess = risk_sub.add_parser(
        "assess",
        help="assess a declaration with the evidence presented, and store the decision",
    )
    assess.add_argument("declaration", help="the declaration (JSON file, '-' for stdin)")
    assess.add_argument(
        "--presentation",
        help='a presentation verification request: {"verifiablePresentation", "options"}',
    )
    assess.add_argument(
        "--attestation",
        action="append",
        default=[],
        help="a scan attestation bundle (or {bundle, options}), repeatable",
    )
    assess.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    assess.add_argument("--json", action="store_true", help="print the stored decision as JSON")
    assess.set_defaults(func=_assess)

    watch = risk_sub.add_parser("watch-list", help="the targets that override every benefit")
    watch_sub = watch.add_subparsers(dest="watch_command", required=True)
    add = watch_sub.add_parser("add", help="put a party identifier or a container on the list")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--party", metavar="SCHEME:VALUE", help="e.g. EORI:DE123456789012345")
    what.add_argument("--container", help="an ISO 6346 container number")
    add.add_argument("--reason", help="why (kept with the entry)")
    add.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    add.add_argument("--json", action="store_true", help="print the entry as JSON")
    add.set_defaults(func=_watch_add)
    show = watch_sub.add_parser("list", help="every entry")
    show.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    json_always(show)
    show.set_defaults(func=_watch_list)


def _attestation(name: str) -> JSONValue:
    document = read_json_object(name)
    return document if "bundle" in document else {"bundle": document}


def _assess(args: argparse.Namespace) -> int:
    if len(args.attestation) > MAX_ATTESTATIONS:
        fail(f"at most {MAX_ATTESTATIONS} --attestation files")
    body: JSONObject = {"declaration": read_json_object(args.declaration)}
    if args.presentation is not None:
        body["presentation"] = read_json_object(args.presentation)
    if args.attestation:
        body["attestations"] = [_attestation(name) for name in args.attestation]
    try:
        request = parse_assessment_request(body)
    except MalformedDeclarationError as e:
        fail(
            f"{args.declaration}: {e.message}; fix the declaration (docs/risk.md lists its fields)"
        )
    except MalformedInputError as e:
        fail(e.message)
    services = load_services(args)
    try:
        record = services.risk.assess(request, now=utcnow(), actor="cli")
    except TrustlaneError as e:
        fail(e.diagnostics().replace("\n", "; "))
    if args.json:
        print_json(record)
        return EXIT_OK
    decision = record["decision"]
    assert isinstance(decision, dict)  # noqa: S101 - built by the service
    reasons = decision["reasons"]
    assert isinstance(reasons, list)  # noqa: S101 - built by the service
    print(f"decision {record['id']}: {decision['channel']} (score {decision['score']})")
    for reason in reasons:
        if isinstance(reason, dict):
            print(f"  {reason['code']}: {reason['message']}")
    verification = record["verification"]
    if isinstance(verification, dict) and isinstance(verification.get("notes"), list):
        for note in verification["notes"]:  # type: ignore[union-attr]
            print(f"  note: {note}")
    return EXIT_OK


def _watch_add(args: argparse.Namespace) -> int:
    party = None
    if args.party is not None:
        scheme, sep, value = args.party.partition(":")
        if not sep:
            fail("--party must be SCHEME:VALUE, e.g. EORI:DE123456789012345")
        try:
            party = PartyIdentifier(scheme, value)
        except MalformedInputError as e:
            fail(f"--party: {e.message}: give SCHEME:VALUE, e.g. EORI:DE123456789012345")
    services = load_services(args)
    try:
        services.risk.add_watch_entry(
            party=party, container=args.container, reason=args.reason, now=utcnow(), actor="cli"
        )
    except TrustlaneError as e:
        fail(e.message)
    if args.json:
        if party is not None:
            print_json(_entry(risk_repo.PARTY, party.scheme, party.value, args.reason))
        else:
            print_json(_entry(risk_repo.CONTAINER, "", args.container, args.reason))
    else:
        print(f"on the watch list: {args.party or args.container}")
    return EXIT_OK


def _watch_list(args: argparse.Namespace) -> int:
    print_json(
        [_entry(e.kind, e.scheme, e.value, e.reason) for e in load_services(args).risk.watch_list()]
    )
    return EXIT_OK


def _entry(kind: str, scheme: str, value: str, reason: str | None) -> JSONObject:
    """A watch-list entry as ``watch-list list`` and ``watch-list add --json`` print it."""
    return {
        "kind": kind,
        **({"scheme": scheme} if scheme else {}),
        "value": value,
        "reason": reason,
    }
