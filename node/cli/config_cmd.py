"""``trustlane config check``: check a federation settings file before a node uses it.

Exit codes follow the CLI: 0 the file is fine, 1 it has problems (one ``LOCATION: MESSAGE``
line each on stderr, every problem at once), 2 it cannot be read or the usage is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from federation_config.federation import (
    ConfigError,
    FederationSettings,
    UnreadableConfigError,
    load_federation,
    parse_federation,
)
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, print_json, read_bytes

_DESCRIPTION = """\
Check a node's federation settings file (federation.toml: [federation], [sync],
[freshness], [push], [risk] and [[peers]]) against its JSON Schema and the rules a
schema cannot express, and report every problem with its location. Environment
overrides (TRUSTLANE_PEER_<NAME>_BASE_URL, TRUSTLANE_PEER_<NAME>_PUSH_URL) are applied
first, as the node would. This checks federation files only, not node.toml.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command group."""
    config = sub.add_parser("config", help="check configuration files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check",
        help="check a federation.toml file (not node.toml)",
        description=_DESCRIPTION,
    )
    check.add_argument(
        "file",
        help="the federation settings file ('-' for stdin; relative paths in it are then "
        "relative to the current directory)",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    check.set_defaults(func=_check)


def _load(name: str) -> FederationSettings:
    if name == "-":
        data = read_bytes(name)
        return parse_federation(data, source="<stdin>", base_dir=Path.cwd(), environ=os.environ)
    try:
        return load_federation(Path(name), os.environ)
    except UnreadableConfigError as e:
        fail("; ".join(str(p) for p in e.problems))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check(args: argparse.Namespace) -> int:
    try:
        settings = _load(args.file)
    except ConfigError as e:
        if args.json:
            problems = [{"location": p.location, "message": p.message} for p in e.problems]
            print_json({"valid": False, "problems": problems})
        else:
            for problem in e.problems:
                print(problem, file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print_json(
            {
                "valid": True,
                "federation": settings.name,
                "peers": [p.name for p in settings.peers],
                "enabledPeers": [p.name for p in settings.enabled_peers],
            }
        )
    else:
        disabled = len(settings.peers) - len(settings.enabled_peers)
        summary = f"ok: {_plural(len(settings.peers), 'peer')}"
        print(summary + (f" ({disabled} disabled)" if disabled else ""))
    return EXIT_OK
