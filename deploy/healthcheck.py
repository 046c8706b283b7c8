#!/usr/bin/env python3
"""Container healthcheck: exit 0 when ``GET URL`` answers 200, else 1.

Usage: ``trustlane-healthcheck URL [--cafile PEM]``, e.g.
``trustlane-healthcheck https://localhost/health --cafile /etc/trustlane/certs/ca.crt``.
The slim image has no curl; this uses the standard library only. ``/health`` is the node's
readiness (database, schema at head, signing key, sync scheduler); ``/health/live`` only
says that the process answers.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    """Probe the URL once (5 s timeout) and print the status on failure."""
    parser = argparse.ArgumentParser(prog="trustlane-healthcheck")
    parser.add_argument("url")
    parser.add_argument("--cafile", help="PEM CA bundle that issued the node's certificate")
    args = parser.parse_args(argv)
    if not args.url.startswith(("https://", "http://")):
        parser.error("URL must be http(s)")
    context = ssl.create_default_context(cafile=args.cafile)
    try:
        with urllib.request.urlopen(args.url, timeout=5, context=context) as response:  # noqa: S310 - scheme checked above
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (urllib.error.URLError, OSError) as e:
        print(f"{args.url}: {e}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{args.url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
