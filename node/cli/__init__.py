"""The ``trustlane`` command line.

Exit codes: 0 success (verified), 1 verification failed, 2 bad usage or unreadable input.
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from node.cli import (
    aeo_cmd,
    audit_cmd,
    config_cmd,
    credential_cmd,
    demo_cmd,
    device_cmd,
    keys_cmd,
    node_cmd,
    proof_cmd,
    registry_cmd,
    risk_cmd,
    scan_cmd,
    simulate_cmd,
    wallet_cmd,
)
from node.cli._io import EXIT_USAGE, CLIError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command group."""
    parser = argparse.ArgumentParser(
        prog="trustlane", description="Customs mutual-recognition trust network node and tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    keys_cmd.register(sub)
    proof_cmd.register(sub)
    credential_cmd.register(sub)
    demo_cmd.register(sub)
    device_cmd.register(sub)
    node_cmd.register(sub)
    aeo_cmd.register(sub)
    config_cmd.register(sub)
    registry_cmd.register(sub)
    risk_cmd.register(sub)
    scan_cmd.register(sub)
    audit_cmd.register(sub)
    simulate_cmd.register(sub)
    wallet_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CLIError as e:
        print(f"trustlane: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("trustlane: interrupted", file=sys.stderr)
        return EXIT_USAGE
    finally:
        node_cmd.close_services()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
