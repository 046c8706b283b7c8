"""``trustlane device register|suspend|resume|retire|list``: the node's scanners and monitors.

``register`` makes the device's key pair (did:key), has the node sign its
``DeviceAuthorization`` and writes what the device keeps into ``--out DIR``:
``device-key.json`` (0600), ``authorization.json`` and ``device.json`` (name, did, node).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from credentials.datetimes import format_datetime
from credentials.errors import TrustlaneError
from credentials.keys import PrivateKey, key_pair_to_dict
from node.api.devices import device_json
from node.cli._io import (
    EXIT_OK,
    domain_problem,
    fail,
    os_problem,
    parse_at,
    print_json,
    write_private_file,
)
from node.cli.device_simulate import add_parser as add_simulate_parser
from node.cli.node_cmd import load_services
from node.wiring import utcnow
from scan_attestation.attestation import MODALITIES

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``device`` command group."""
    device = sub.add_parser("device", help="X-ray scanners and radiation portal monitors")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    reg = device_sub.add_parser("register", help="authorise a new device and write its files")
    reg.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    reg.add_argument("--name", required=True, help="a unique name, e.g. rtm-rpm-07")
    reg.add_argument(
        "--modality",
        action="append",
        required=True,
        choices=MODALITIES,
        help="what the device may attest (repeat for several)",
    )
    reg.add_argument("--site", required=True, help="UN/LOCODE where it stands, e.g. NLRTM")
    reg.add_argument("--calibration-due", help="date-time after which scans are refused")
    reg.add_argument("--valid-until", help="end of the authorisation (default: one year)")
    reg.add_argument("--out", required=True, help="directory for the device's files (new)")
    reg.add_argument(
        "--json", action="store_true", help='print {"name", "did", "node", "nodeUrl", ...}'
    )
    reg.set_defaults(func=_register)
    for action, help_text in (
        ("suspend", "refuse the device's scans until resumed (sets the suspension bit)"),
        ("resume", "accept a suspended device's scans again"),
        ("retire", "refuse the device's scans for good (revokes its authorisation)"),
    ):
        change = device_sub.add_parser(action, help=help_text)
        change.add_argument("device", help="device name or did:key")
        change.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
        change.add_argument("--reason", help="why (audit log, refusals)")
        change.add_argument("--json", action="store_true", help="print the device as JSON")
        change.set_defaults(func=_change, state=_STATE[action])
    listing = device_sub.add_parser("list", help="every device and its state")
    listing.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)
    add_simulate_parser(device_sub)


_STATE = {"suspend": "suspended", "resume": "active", "retire": "retired"}


def _register(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        fail(f"{out}: exists and is not empty")
    calibration = parse_at(args.calibration_due) if args.calibration_due else None
    until = parse_at(args.valid_until) if args.valid_until else None
    services = load_services(args)
    key = PrivateKey.generate()
    try:
        signed = services.devices.register(
            name=args.name,
            device=key.public_key.did,
            modalities=tuple(dict.fromkeys(args.modality)),
            site=args.site,
            now=utcnow(),
            actor="cli",
            valid_until=until,
            calibration_due=calibration,
        )
    except TrustlaneError as e:
        fail(e.diagnostics())
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        fail(os_problem(out, "create", e))
    write_private_file(
        os.fspath(out / "device-key.json"), json.dumps(key_pair_to_dict(key), indent=2), force=False
    )
    facts = {
        "name": args.name,
        "did": key.public_key.did,
        "node": services.identity.did,
        "nodeUrl": services.settings.base_url,
        "authorization": signed["id"],
    }
    (out / "authorization.json").write_text(json.dumps(signed, indent=2) + "\n", "utf-8")
    (out / "device.json").write_text(json.dumps(facts, indent=2) + "\n", "utf-8")
    if args.json:
        print_json({**facts, "dir": str(out)})
    else:
        print(f"registered {args.name} ({key.public_key.did}); files in {out}")
    return EXIT_OK


def _change(args: argparse.Namespace) -> int:
    services = load_services(args)
    try:
        record = services.devices.set_state(
            args.device, args.state, reason=args.reason, now=utcnow(), actor="cli"
        )
    except TrustlaneError as e:
        fail(domain_problem(e, {"NOT_FOUND": "'trustlane device list' shows them"}))
    if args.json:
        print_json(device_json(record))
    else:
        print(f"{record.name}: {record.state}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    services = load_services(args)
    records = services.devices.list()
    if args.json:
        print_json([device_json(r) for r in records])
        return EXIT_OK
    for r in records:
        due = "-" if r.calibration_due is None else format_datetime(r.calibration_due)
        print(
            f"{r.name:<20} {r.state:<10} {r.site} {','.join(r.modalities):<24} "
            f"until {format_datetime(r.valid_until)} calibration {due}"
        )
    return EXIT_OK
