"""``trustlane config check``: check a federation settings file or a risk policy file.

A file whose first non-blank character is ``{`` is a risk policy (JSON, see
``federation_config/risk/``); anything else is a federation settings file (TOML), whose
``[risk]`` section, when present, must name a policy that passes the same checks and whose id
and version match. Exit codes follow the CLI: 0 the file is fine, 1 it has problems (one
``LOCATION: MESSAGE`` line each on stderr, every problem at once), 2 it cannot be read or
the usage is wrong.
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
from federation_config.risk import MAX_POLICY_BYTES, parse_policy, resolve_policy
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, print_json, read_bytes
from risk import Policy, RiskPolicyError

_DESCRIPTION = """\
Check a node's federation settings file (federation.toml: [federation], [sync],
[freshness], [push], [risk] and [[peers]]) against its JSON Schema and the rules a
schema cannot express, and report every problem with its location. Environment
overrides (TRUSTLANE_PEER_<NAME>_BASE_URL, TRUSTLANE_PEER_<NAME>_PUSH_URL) are applied
first, as the node would; the risk policy that [risk] names is checked too. A JSON file
(first non-blank character '{') is checked as a risk policy instead (the JSON Schema
federation_config/risk/policy-v1.schema.json and the rules it cannot express). This checks
federation and risk policy files only, not node.toml.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command group."""
    config = sub.add_parser("config", help="check configuration files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check",
        help="check a federation.toml or a risk policy file (not node.toml)",
        description=_DESCRIPTION,
    )
    check.add_argument(
        "file",
        help="the federation settings file or risk policy file ('-' for stdin; relative paths "
        "in it are then relative to the current directory)",
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    check.set_defaults(func=_check)


def _policy_bytes(name: str) -> bytes | None:
    """The file's bytes when it holds JSON (a risk policy); None for anything else.

    A file that cannot be read is left to the federation loader, which reports it.
    """
    try:
        with Path(name).open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError:
        return None
    return data if data.lstrip().startswith(b"{") else None


def _load(name: str, data: bytes | None) -> FederationSettings:
    if data is not None:
        return parse_federation(data, source="<stdin>", base_dir=Path.cwd(), environ=os.environ)
    try:
        return load_federation(Path(name), os.environ)
    except UnreadableConfigError as e:
        fail("; ".join(str(p) for p in e.problems) + ": check the path and its permissions")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _problems(problems: list[tuple[str, str]], as_json: bool) -> int:
    if as_json:
        listed = [{"location": where, "message": what} for where, what in problems]
        print_json({"valid": False, "problems": listed})
    else:
        for location, message in problems:
            print(f"{location or '(root)'}: {message}", file=sys.stderr)
    return EXIT_FAILED


def _policy_summary(policy: Policy) -> dict[str, str]:
    return {"policyId": policy.policy_id, "version": policy.version, "hash": policy.hash}


def _check_policy(data: bytes, source: str, as_json: bool) -> int:
    try:
        policy = parse_policy(data, source=source)
    except RiskPolicyError as e:
        return _problems(list(e.problems), as_json)
    if as_json:
        print_json({"valid": True, "riskPolicy": _policy_summary(policy)})
    else:
        print(f"ok: risk policy {policy.policy_id} {policy.version} ({policy.hash})")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    data = read_bytes(args.file) if args.file == "-" else _policy_bytes(args.file)
    if data is not None and data.lstrip().startswith(b"{"):
        source = "<stdin>" if args.file == "-" else args.file
        return _check_policy(data, source, args.json)
    try:
        settings = _load(args.file, data)
    except ConfigError as e:
        return _problems([(p.location, p.message) for p in e.problems], args.json)
    policy = None
    if settings.risk is not None:
        try:
            policy = resolve_policy(settings.risk)
        except RiskPolicyError as e:
            return _problems(list(e.problems), args.json)
    if args.json:
        result = {
            "valid": True,
            "federation": settings.name,
            "peers": [p.name for p in settings.peers],
            "enabledPeers": [p.name for p in settings.enabled_peers],
        }
        if policy is not None:
            result["riskPolicy"] = _policy_summary(policy)
        print_json(result)
    else:
        disabled = len(settings.peers) - len(settings.enabled_peers)
        summary = f"ok: {_plural(len(settings.peers), 'peer')}"
        print(summary + (f" ({disabled} disabled)" if disabled else ""))
    return EXIT_OK
