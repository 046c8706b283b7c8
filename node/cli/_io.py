"""Shared CLI plumbing: reading documents, printing JSON, one-line errors, exit codes."""

from __future__ import annotations

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


def read_bytes(name: str) -> bytes:
    """Read a file (``-`` is stdin), refusing more than the JSON size limit."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as e:
        fail(f"{name}: cannot read: {e.strerror or e}")
    return data


def read_json_object(name: str) -> JSONObject:
    """Read and strictly parse a JSON object from a file or stdin."""
    data = read_bytes(name)
    try:
        return loads_object(data)
    except TrustlaneError as e:
        fail(f"{name}: {e.diagnostics()}")


def parse_at(value: str | None) -> datetime:
    """Parse ``--at`` / ``--created`` style options; None means now."""
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_datetime(value, field="time")
    except TrustlaneError as e:
        fail(e.message)


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
        fail(f"{path}: cannot write: {e.strerror or e}")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
