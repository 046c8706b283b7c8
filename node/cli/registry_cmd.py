"""``trustlane registry ...``: peers (add with pinned keys, list, sync now), identifiers."""

from __future__ import annotations

import argparse
from pathlib import Path

from credentials.datetimes import format_datetime
from credentials.errors import TrustlaneError
from node.cli._io import (
    EXIT_FAILED,
    EXIT_OK,
    domain_problem,
    fail,
    json_always,
    parse_at,
    print_json,
)
from node.cli.identifiers_cmd import register as register_identifiers
from node.cli.mra_cmd import register_mra
from node.cli.node_cmd import load_services
from node.wiring import utcnow

# The next step for the errors an operator can fix from here.
_HINTS = {
    "NOT_FOUND": "'trustlane registry peer list' shows the names",
    "INVALID_KEY": "--key takes the peer's whole Multikey (z6Mk...) as its node show prints it",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``registry`` command group."""
    registry = sub.add_parser(
        "registry", help="the trust registry: peers and the identifier crosswalk"
    )
    reg_sub = registry.add_subparsers(dest="registry_command", required=True)
    peer = reg_sub.add_parser("peer", help="peers")
    peer_sub = peer.add_subparsers(dest="peer_command", required=True)

    add = peer_sub.add_parser("add", help="add a peer with keys pinned out of band")
    add.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    add.add_argument("--name", required=True, help="short name, e.g. us")
    add.add_argument("--did", required=True, help="the peer's did:web")
    add.add_argument("--base-url", required=True, help="the peer's origin")
    add.add_argument(
        "--key",
        action="append",
        required=True,
        help="pinned public key as a whole Multikey (z6Mk...; key_fingerprints in "
        "federation.toml), repeatable",
    )
    add.add_argument("--ca-bundle", help="PEM bundle to trust for this peer's TLS")
    add.add_argument(
        "--json", action="store_true", help='print {"name", "did", "baseUrl", "keys", "caBundle"}'
    )
    add.set_defaults(func=_add)

    repin = peer_sub.add_parser(
        "repin", help="vouch for new keys of a peer (audited; accepted at its next sync)"
    )
    repin.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    repin.add_argument("--name", required=True, help="the peer's registry name")
    repin.add_argument(
        "--key", action="append", required=True, help="Multikey (z6Mk...) to accept, repeatable"
    )
    repin.add_argument(
        "--not-before",
        help="earliest proof time the keys may sign (default: now); proofs dated earlier fail",
    )
    repin.add_argument("--json", action="store_true", help='print {"name", "keys", "notBefore"}')
    repin.set_defaults(func=_repin)

    show = peer_sub.add_parser("show", help="one peer: keys, trust, last sync, agreements with it")
    show.add_argument("name", help="the peer's registry name")
    show.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    show.add_argument("--json", action="store_true", help="print everything as JSON")
    show.set_defaults(func=_show)

    remove = peer_sub.add_parser(
        "remove", help="forget a peer (audited); its credentials grant nothing afterwards"
    )
    remove.add_argument("name", help="the peer's registry name")
    remove.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    remove.add_argument(
        "--force",
        action="store_true",
        help="also when agreements with it are open: they are withdrawn here (no notice sent)",
    )
    remove.add_argument("--json", action="store_true", help="print the outcome as JSON")
    remove.set_defaults(func=_remove)

    list_p = peer_sub.add_parser("list", help="peers with trust and sync health")
    list_p.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    json_always(list_p)
    list_p.set_defaults(func=_list)

    sync = reg_sub.add_parser("sync", help="sync every due peer now")
    sync.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    json_always(sync)
    sync.set_defaults(func=_sync)

    register_identifiers(reg_sub)
    register_mra(reg_sub)


def _add(args: argparse.Namespace) -> int:
    services = load_services(args)
    if args.ca_bundle is not None:
        bundle = Path(args.ca_bundle).resolve()
        if not bundle.is_file():
            fail(f"--ca-bundle {args.ca_bundle}: no such file")
        args.ca_bundle = str(bundle)
    try:
        services.peers.add_peer(
            name=args.name,
            did=args.did,
            base_url=args.base_url,
            pinned_keys=frozenset(args.key),
            ca_bundle=args.ca_bundle,
            now=utcnow(),
            actor="cli",
        )
    except TrustlaneError as e:
        fail(domain_problem(e, _HINTS))
    interval = services.federation.sync.interval_seconds
    if args.json:
        print_json(
            {
                "name": args.name,
                "did": args.did,
                "baseUrl": args.base_url,
                "keys": sorted(set(args.key)),
                "caBundle": args.ca_bundle,
            }
        )
        return EXIT_OK
    print(f"peer {args.name} added ({args.did}); it is trusted once its DID document matches")
    print(
        "Next: 'trustlane registry sync' fetches it now; otherwise the running node syncs "
        f"within {interval} s (sync.interval_seconds in federation.toml, default 60). "
        f"'trustlane registry peer show {args.name}' shows the outcome."
    )
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    services = load_services(args)
    try:
        info = services.peers.describe(args.name)
    except TrustlaneError as e:
        fail(domain_problem(e, _HINTS))
    if args.json:
        print_json(info)
        return EXIT_OK
    trust = "trusted" if info["trusted"] else f"NOT trusted: {info['untrustedReason']}"
    print(f"{info['name']}: {info['did']} at {info['baseUrl']}")
    print(f"  {trust}")
    print(f"  CA bundle: {info['caBundle'] or '(system store)'}; added {info['addedAt']}")
    keys = info["pinnedKeys"]
    assert isinstance(keys, list)  # noqa: S101 - describe() builds it
    for key in keys:
        pending = " (pending)" if key["pending"] else ""
        print(f"  key {key['publicKeyMultibase']} from {key['source']}{pending}")
    resources = info["resources"]
    assert isinstance(resources, list)  # noqa: S101
    for r in resources:
        state = (
            f"failed {r['consecutiveFailures']}x: {r['lastError']}"
            if r["lastError"] and r["consecutiveFailures"]
            else "ok"
        )
        print(f"  sync {r['resource']}: last success {r['lastSuccess'] or 'never'}; {state}")
    if not resources:
        print("  not synced yet ('trustlane registry sync' to sync now)")
    agreements = info["agreements"]
    assert isinstance(agreements, list)  # noqa: S101
    for a in agreements:
        print(f"  agreement {a['id']}: {a['state']}")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    services = load_services(args)
    try:
        report = services.peers.remove(
            args.name,
            force=args.force,
            configured=services.federation.peers,
            now=utcnow(),
            actor="cli",
        )
    except TrustlaneError as e:
        fail(domain_problem(e, _HINTS))
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"peer {args.name} removed ({report['did']}); nothing it signed verifies here now")
    withdrawn = report["withdrawnAgreements"]
    assert isinstance(withdrawn, list)  # noqa: S101
    for agreement in withdrawn:
        print(f"  agreement {agreement} withdrawn (the peer was not notified)")
    return EXIT_OK


def _repin(args: argparse.Namespace) -> int:
    services = load_services(args)
    now = utcnow()
    try:
        not_before = parse_at(args.not_before) if args.not_before else None
        peer = services.peers.peer_named(args.name)
        services.peers.repin(
            peer.did, frozenset(args.key), now=now, actor="cli", not_before=not_before
        )
    except TrustlaneError as e:
        fail(domain_problem(e, _HINTS))
    if args.json:
        print_json(
            {
                "name": args.name,
                "keys": sorted(set(args.key)),
                "notBefore": None if not_before is None else format_datetime(not_before),
            }
        )
        return EXIT_OK
    print(
        f"peer {args.name}: {len(args.key)} key(s) re-pinned; they are accepted at the next "
        "sync ('trustlane registry sync' to sync now)"
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    print_json(load_services(args).peers.health())
    return EXIT_OK


def _sync(args: argparse.Namespace) -> int:
    outcomes = load_services(args).sync.sync_all(utcnow(), force=True)
    print_json(
        [
            {"peer": o.peer_did, "resource": o.resource, "ok": o.ok, "detail": o.detail}
            for o in outcomes
        ]
    )
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED
