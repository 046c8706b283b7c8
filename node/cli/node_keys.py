"""``trustlane node keys list``: the node's keys and who acknowledged each announcement.

Shows each key's state (current, pending, retired, compromised), its start and end, and which
peers acknowledged (or have not yet acknowledged) the announcement of it.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from credentials.datetimes import format_datetime
from node.cli._io import EXIT_OK, print_json
from node.storage import keys_repo
from node.storage.records import KeyRecord

__all__ = ["key_state", "keys_report", "register_keys"]


def key_state(record: KeyRecord) -> str:
    """``compromised``, ``current``, ``pending`` (announced, not published) or ``retired``."""
    if record.compromised_since is not None:
        return "compromised"
    if record.is_current:
        return "current"
    if record.pending:
        return "pending"
    return "retired"


def _stamp(value: Any) -> str | None:
    return None if value is None else format_datetime(value)


def keys_report(services: Any) -> list[dict[str, Any]]:
    """Every key with its state, start, end and announcement acknowledgements (JSON-ready)."""
    with services.db.read() as conn:
        announcements = keys_repo.list_announcements(conn)
    report = []
    for record in services.identity.keys(fresh=True):
        sent = [a for a in announcements if a.kid == record.kid]
        report.append(
            {
                "kid": record.kid,
                "publicKeyMultibase": record.public_key_multibase,
                "state": key_state(record),
                "start": _stamp(record.created_at),
                "end": _stamp(record.retired_at),
                "compromisedSince": _stamp(record.compromised_since),
                "acknowledgedBy": [
                    {"did": a.peer_did, "at": _stamp(a.acknowledged_at)}
                    for a in sent
                    if a.acknowledged_at is not None
                ],
                "notAcknowledgedBy": [
                    {
                        "did": a.peer_did,
                        "attempts": a.attempts,
                        "lastError": a.last_error,
                        "nextAttempt": _stamp(a.next_attempt),
                    }
                    for a in sent
                    if a.acknowledged_at is None
                ],
            }
        )
    return report


def register_keys(
    node_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    load: Callable[[argparse.Namespace], Any],
) -> None:
    """Add ``node keys list``; ``load`` opens the node's services from the arguments."""
    keys = node_sub.add_parser("keys", help="the node's signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    listing = keys_sub.add_parser("list", help="keys, states, starts and who acknowledged them")
    listing.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON")
    listing.set_defaults(func=functools.partial(_list, load=load))


def _list(args: argparse.Namespace, *, load: Callable[[argparse.Namespace], Any]) -> int:
    report = keys_report(load(args))
    if args.json:
        print_json({"keys": report})
        return EXIT_OK
    for key in report:
        end = f" until {key['end']}" if key["end"] else ""
        print(
            f"{key['kid']} ({key['state']}): {key['publicKeyMultibase']} from {key['start']}{end}"
        )
        acked = ", ".join(a["did"] for a in key["acknowledgedBy"])
        if acked:
            print(f"  acknowledged by: {acked}")
        for missing in key["notAcknowledgedBy"]:
            print(f"  not acknowledged by: {missing['did']} ({missing['lastError'] or 'not sent'})")
    return EXIT_OK
