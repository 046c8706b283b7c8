"""``trustlane registry mra ...``: mutual recognition agreements from the command line.

The commands run in-process against ``--data-dir`` with the node's own agreement workflow
(:class:`~node.federation.agreements.AgreementService`, as ``POST /mras`` and friends do):
a proposal, a countersignature and a termination notice are stored and then delivered to the
peer as a signed request (``POST /federation/agreements``), at once. Each command says
whether the peer took the delivery; when it did not, the document stays stored here, the
command prints it anyway, warns on stderr and exits 1.

Errors (an unknown peer or agreement, a recognitions file that cannot be read or is invalid,
with the JSON Pointer of each problem, countersigning this node's own proposal, terminating
twice) are one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from credentials.aeo import SchemaValidationError
from credentials.datetimes import format_datetime
from credentials.errors import TrustlaneError
from credentials.strict_json import JSONObject, loads, loads_object
from node.api.mras import agreement_json
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    fail,
    parse_at,
    print_json,
    read_bytes,
    write_private_file,
)
from node.cli.node_cmd import load_services
from node.federation.agreements import AgreementService
from node.services.status import NotFoundError
from node.storage.federation_repo import MRARecord
from node.wiring import NodeServices
from registry.mra import MutualRecognitionAgreement, build_mra

__all__ = ["DEFAULT_NOTICE_DAYS", "register_mra"]

#: Notice period of a proposal unless ``--notice-days`` says otherwise.
DEFAULT_NOTICE_DAYS = 90
# Stands in for the agreement id while a recognitions file is checked before proposing.
_PLACEHOLDER_ID = "urn:uuid:00000000-0000-4000-8000-000000000000"
# Where a subject problem outside the recognitions came from.
_OPTION_OF = {
    "/noticePeriodDays": "--notice-days",
    "/effectiveFrom": "--effective-from",
    "/effectiveUntil": "--effective-until",
}


def register_mra(reg_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``registry mra propose|list|show|countersign|terminate``."""
    mra = reg_sub.add_parser(
        "mra", help="mutual recognition agreements: propose, review, countersign, terminate"
    )
    mra_sub = mra.add_subparsers(dest="mra_command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = mra_sub.add_parser(name, help=help_text)
        parser.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
        return parser

    propose = command("propose", "sign a proposal to a peer, store it and deliver it")
    propose.add_argument("--peer", required=True, metavar="NAME", help="the peer's registry name")
    propose.add_argument(
        "--recognitions",
        required=True,
        metavar="FILE",
        help="JSON array of one or two directions (see examples/mra-recognitions.json)",
    )
    propose.add_argument(
        "--notice-days",
        type=int,
        default=DEFAULT_NOTICE_DAYS,
        metavar="N",
        help=f"days from a termination notice to the end (0-730, default {DEFAULT_NOTICE_DAYS})",
    )
    propose.add_argument(
        "--effective-from", metavar="T", help="when it takes effect (default: now)"
    )
    propose.add_argument("--effective-until", metavar="T", help="when it ends by itself")
    propose.set_defaults(func=_propose)

    list_p = command("list", "every agreement of this node with its state")
    list_p.set_defaults(func=_list)

    show = command("show", "one agreement: parties, terms, signatures, state")
    show.add_argument("id", metavar="ID", help="the agreement id (urn:uuid:...)")
    show.set_defaults(func=_show)

    countersign = command("countersign", "countersign a peer's pending proposal (makes it active)")
    countersign.add_argument("id", metavar="ID", help="the agreement id (urn:uuid:...)")
    countersign.set_defaults(func=_countersign)

    terminate = command("terminate", "give signed notice; it ends after its notice period")
    terminate.add_argument("id", metavar="ID", help="the agreement id (urn:uuid:...)")
    terminate.add_argument(
        "--notice",
        metavar="FILE",
        help="also write the signed notice to FILE (to hand over if delivery fails)",
    )
    terminate.set_defaults(func=_terminate)


class _Delivery:
    """Wraps the node's delivery to a peer and remembers whether the peer took it."""

    def __init__(self, send: Callable[[str, JSONObject], bool]) -> None:
        self._send = send
        self.delivered: bool | None = None

    def __call__(self, peer_did: str, document: JSONObject) -> bool:
        self.delivered = self._send(peer_did, document)
        return self.delivered


@contextmanager
def _workflow(
    args: argparse.Namespace,
) -> Iterator[tuple[NodeServices, AgreementService, _Delivery]]:
    """The node's services and its agreement workflow, delivering as the node does."""
    services = load_services(args)
    delivery = _Delivery(services.push.deliver_document)
    agreements = AgreementService(
        db=services.db,
        identity=services.identity,
        peers=services.peers,
        clock=services.clock,
        deliver=delivery,
    )
    try:
        yield services, agreements, delivery
    except TrustlaneError as e:
        fail(_one_line(e.diagnostics()))
    finally:
        services.db.dispose()


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _peer_names(services: NodeServices) -> dict[str, str]:
    return {p.did: p.name for p in services.peers.peers()}


def _get(agreements: AgreementService, agreement_id: str) -> MRARecord:
    try:
        return agreements.get(agreement_id)
    except NotFoundError:
        fail(f"no agreement {agreement_id} here ('trustlane registry mra list' shows them)")


def _read_recognitions(name: str) -> list[JSONObject]:
    try:
        value = loads(read_bytes(name))
    except TrustlaneError as e:
        fail(f"{name}: {e.diagnostics()}; fix the file (a JSON array of recognitions)")
    if not isinstance(value, list):
        fail(
            f"{name}: (root): must be a JSON array of one or two recognitions (directions); "
            "fix the file (docs/node.md, Agreements, has an example)"
        )
    bad = [i for i, item in enumerate(value) if not isinstance(item, dict)]
    if bad:
        fail(f"{name}: /{bad[0]}: must be an object (a recognition); fix the file")
    return [item for item in value if isinstance(item, dict)]


def _check_terms(
    name: str,
    recognitions: list[JSONObject],
    *,
    own: str,
    peer: str,
    peer_name: str,
    effective_from: datetime,
    effective_until: datetime | None,
    notice_days: int,
) -> None:
    """Check the terms as the proposal will; report problems against the file or option."""
    try:
        build_mra(
            agreement_id=_PLACEHOLDER_ID,
            parties=[own, peer],
            recognitions=recognitions,
            effective_from=effective_from,
            effective_until=effective_until,
            notice_period_days=notice_days,
            proposer=own,
        )
    except SchemaValidationError as e:
        in_file: list[str] = []
        in_options: list[str] = []
        for error in e.errors:
            path, message = error["path"], error["message"]
            if path == "/recognitions" or path.startswith("/recognitions/"):
                in_file.append(f"{path[len('/recognitions') :] or '(root)'}: {message}")
            else:
                message = message.replace("effectiveFrom", "--effective-from")
                in_options.append(f"{_OPTION_OF.get(path, path)}: {message}")
        if in_file:
            hint = ""
            if any("must be one of the parties" in p for p in in_file):
                hint = f" (this node is {own}, peer {peer_name} is {peer})"
            fail(f"{name}: invalid recognitions: {'; '.join(in_file)}{hint}; fix the file")
        fail("; ".join(in_options))
    except TrustlaneError as e:
        fail(f"{name}: {_one_line(e.diagnostics())}")


def _delivery_note(delivered: bool | None, peer: str) -> str:
    if delivered:
        return f"delivered to {peer}"
    return f"NOT delivered to {peer} (unreachable or refused; see the node's log)"


def _finish(delivered: bool | None, peer: str, remedy: str) -> int:
    if delivered:
        return EXIT_OK
    print(f"trustlane: warning: not delivered to {peer}; {remedy}", file=sys.stderr)
    return EXIT_FAILED


def _propose(args: argparse.Namespace) -> int:
    recognitions = _read_recognitions(args.recognitions)
    effective_until = parse_at(args.effective_until) if args.effective_until else None
    with _workflow(args) as (services, agreements, delivery):
        try:
            peer = services.peers.peer_named(args.peer)
        except NotFoundError:
            fail(f"no peer named {args.peer!r} ('trustlane registry peer list' shows the names)")
        effective_from = parse_at(args.effective_from) if args.effective_from else services.clock()
        _check_terms(
            args.recognitions,
            recognitions,
            own=services.identity.did,
            peer=peer.did,
            peer_name=peer.name,
            effective_from=effective_from,
            effective_until=effective_until,
            notice_days=args.notice_days,
        )
        proposal = agreements.propose(
            peer_did=peer.did,
            recognitions=recognitions,
            effective_from=effective_from,
            effective_until=effective_until,
            notice_period_days=args.notice_days,
            actor="cli",
        )
        agreement_id = MutualRecognitionAgreement.from_dict(proposal).id
    if args.json:
        print_json(
            {
                "id": agreement_id,
                "peer": peer.did,
                "state": "pending",
                "delivered": bool(delivery.delivered),
                "agreement": proposal,
            }
        )
    else:
        print(f"proposed agreement {agreement_id} to {peer.name} ({peer.did})")
        note = _delivery_note(delivery.delivered, peer.name)
        print(f"pending until {peer.name} countersigns it; {note}")
    return _finish(
        delivery.delivered,
        peer.name,
        "the proposal is stored here: its administrator can take it with POST /mras/receive "
        f"(the agreement from 'trustlane registry mra show {agreement_id} --json')",
    )


def _list(args: argparse.Namespace) -> int:
    with _workflow(args) as (services, agreements, _):
        records = agreements.list()
        names = _peer_names(services)
    if args.json:
        print_json({"agreements": [agreement_json(r) for r in records]})
        return EXIT_OK
    if not records:
        print("no agreements ('trustlane registry mra propose' makes one)")
        return EXIT_OK
    for record in records:
        ends = (
            f"  ends {format_datetime(record.termination_effective)}"
            if record.termination_effective
            else ""
        )
        peer = names.get(record.peer_did, record.peer_did)
        print(f"{record.id}  {record.state:<10}  {peer}{ends}")
    return EXIT_OK


def _describe(record: MRARecord, own: str, names: dict[str, str]) -> list[str]:
    document = agreement_json(record)["agreement"]
    mra = MutualRecognitionAgreement.from_dict(document)

    def who(did: str) -> str:
        return "this node" if did == own else f"{names.get(did, 'unknown peer')} ({did})"

    lines = [
        f"agreement {record.id}",
        f"  state: {record.state}",
        f"  proposed by: {who(mra.proposer)}",
        f"  parties: {', '.join(who(p) for p in mra.parties)}",
        f"  effective from: {format_datetime(mra.effective_from)}",
        "  effective until: "
        + (format_datetime(mra.effective_until) if mra.effective_until else "(no end)"),
        f"  notice period: {mra.notice_period_days} days",
    ]
    if record.termination_effective is not None:
        lines.append(f"  terminated: ends {format_datetime(record.termination_effective)}")
    subject = document["credentialSubject"]
    for rec in subject["recognitions"] if isinstance(subject, dict) else []:
        programmes = ", ".join(
            f"{p['programme']} ({', '.join(p.get('levels', []))})" for p in rec["programmes"]
        )
        lines.append(
            f"  {who(rec['recognisingParty'])} recognises {programmes} "
            f"of {who(rec['issuingParty'])}: roles {', '.join(rec['roles'])}; "
            f"benefits {', '.join(rec['benefits'])}"
        )
    return lines


def _show(args: argparse.Namespace) -> int:
    with _workflow(args) as (services, agreements, _):
        record = _get(agreements, args.id)
        own = services.identity.did
        names = _peer_names(services)
    if args.json:
        body: dict[str, Any] = agreement_json(record)
        if record.termination_notice is not None:
            body["terminationNotice"] = loads_object(record.termination_notice)
        print_json(body)
    else:
        print("\n".join(_describe(record, own, names)))
    return EXIT_OK


def _countersign(args: argparse.Namespace) -> int:
    with _workflow(args) as (services, agreements, delivery):
        record = _get(agreements, args.id)
        names = _peer_names(services)
        peer = names.get(record.peer_did, record.peer_did)
        proposer = MutualRecognitionAgreement.from_dict(agreement_json(record)["agreement"])
        if proposer.proposer == services.identity.did:
            fail(f"agreement {args.id} is this node's own proposal: only {peer} can countersign it")
        if record.state != "pending":
            fail(
                f"agreement {args.id} is already {record.state}: "
                "only a pending proposal is countersigned"
            )
        signed = agreements.countersign(args.id, actor="cli")
    if args.json:
        print_json(
            {
                "id": args.id,
                "peer": record.peer_did,
                "state": "active",
                "delivered": bool(delivery.delivered),
                "agreement": signed,
            }
        )
    else:
        print(f"agreement {args.id} countersigned: active here")
        print(_delivery_note(delivery.delivered, peer))
    return _finish(
        delivery.delivered,
        peer,
        f"it becomes active there at {peer}'s next sync, which reads this node's copy",
    )


def _terminate(args: argparse.Namespace) -> int:
    if args.notice and Path(args.notice).exists():
        fail(f"{args.notice}: already exists (the notice is written to a new file)")
    with _workflow(args) as (services, agreements, delivery):
        record = _get(agreements, args.id)
        names = _peer_names(services)
        peer = names.get(record.peer_did, record.peer_did)
        if record.state == "terminated":
            ends = record.termination_effective
            fail(
                f"agreement {args.id} is already terminated"
                + (f" (it ends {format_datetime(ends)})" if ends else "")
            )
        if record.state != "active":
            fail(f"agreement {args.id} is {record.state}: only an active agreement is terminated")
        notice = agreements.terminate(args.id, actor="cli")
        effective = agreements.get(args.id).termination_effective
    if args.notice:
        write_private_file(
            args.notice, json.dumps(notice, indent=2, ensure_ascii=False) + "\n", force=False
        )
    until = format_datetime(effective) if effective else None
    if args.json:
        print_json(
            {
                "id": args.id,
                "peer": record.peer_did,
                "state": "terminated",
                "effective": until,
                "delivered": bool(delivery.delivered),
                "notice": notice,
            }
        )
    else:
        print(f"agreement {args.id} terminated: it counts until {until}")
        print(_delivery_note(delivery.delivered, peer))
    return _finish(
        delivery.delivered,
        peer,
        f"{peer}'s next sync reads the notice from this node"
        + (f", or hand over {args.notice} (POST /mras/terminations)" if args.notice else ""),
    )
