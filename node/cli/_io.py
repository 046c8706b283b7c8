"""Shared CLI plumbing: reading documents, printing JSON, one-line errors, exit codes.

Conventions every command follows (docs/cli.md): results go to stdout (with ``--json``, one
JSON document and nothing else); errors are one line on stderr, ``trustlane: error: WHAT:
NEXT STEP``, never a traceback; progress goes to stderr only on a terminal (or with
``--progress``) and never with ``--json``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from credentials.datetimes import parse_datetime
from credentials.errors import TrustlaneError
from credentials.strict_json import MAX_BYTES, JSONObject, loads_object

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A problem to report as one line on stderr, with an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(message: str, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with a one-line message."""
    raise CLIError(message, exit_code)


_OS_HINTS = {
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EISDIR: "give a file, not a folder",
    errno.ELOOP: "give the file itself, not a symbolic link",
    errno.ENOSPC: "free some disk space and try again",
    errno.EROFS: "choose a writable location",
}


def os_problem(name: object, verb: str, e: OSError) -> str:
    """``NAME: cannot VERB: REASON: NEXT STEP`` for a failed file operation."""
    hint = _OS_HINTS.get(e.errno or 0, "check the path and its permissions")
    return f"{name}: cannot {verb}: {e.strerror or e}: {hint}"


def fetch_problem(message: str, origin: str, *, status: int | None = None) -> str:
    """The one-line message for a node that did not answer as it should, with the next step.

    Args:
        message: What the fetcher said (a TLS failure already names its fix).
        origin: The node's origin, as the operator gave it.
        status: The HTTP status when the node answered one.
    """
    message = " ".join(message.split())
    if "TLS verification failed" in message:
        return message
    if status is not None:
        return f"{message}: check that {origin} is the origin of a trustlane node"
    if "timed out" in message:
        return f"{message}: the node at {origin} is slow or unreachable; try again later"
    return (
        f"{message}: the node is not reachable at {origin}: check the URL and that "
        "`trustlane node serve` runs there"
    )


def domain_problem(e: TrustlaneError, hints: dict[str, str]) -> str:
    """``CODE: message``, followed by the next step the command knows for that code."""
    hint = hints.get(e.code)
    return e.diagnostics() if hint is None else f"{e.diagnostics()}: {hint}"


def progress_wanted(args: argparse.Namespace) -> bool:
    """Whether to draw progress on stderr: asked with ``--progress``, or on a terminal.

    Never by default with ``--json``, so that scripts reading the JSON see no progress.
    """
    if getattr(args, "progress", False):
        return True
    return sys.stderr.isatty() and not getattr(args, "json", False)


def json_always(parser: argparse.ArgumentParser) -> None:
    """Accept ``--json`` on a command whose output is always one JSON document.

    Scripts can then pass ``--json`` to every command that prints results (docs/cli.md).
    """
    parser.add_argument(
        "--json", action="store_true", help="accepted for uniformity: the output is always JSON"
    )


def read_bytes(name: str) -> bytes:
    """Read a file (``-`` is stdin), refusing more than the JSON size limit."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as e:
        fail(os_problem(name, "read", e))
    return data


def read_json_object(name: str) -> JSONObject:
    """Read and strictly parse a JSON object from a file or stdin."""
    data = read_bytes(name)
    try:
        return loads_object(data)
    except TrustlaneError as e:
        fail(f"{name}: {e.diagnostics()}: fix the file (one JSON object) and run again")


def parse_at(value: str | None) -> datetime:
    """Parse ``--at`` / ``--created`` style options; None means now."""
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_datetime(value, field="time")
    except TrustlaneError as e:
        fail(f"{e.message}; give one like 2026-11-30T08:00:00Z")


def print_json(value: Any) -> None:
    """Print JSON for humans (indented, UTF-8)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_private_file(path: str, text: str, *, force: bool) -> None:
    """Create ``path`` with mode 0600 (refusing to overwrite unless ``force``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        fail(f"{path}: already exists (use --force to overwrite)")
    except OSError as e:
        fail(os_problem(path, "write", e))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
