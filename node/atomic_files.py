"""Private files written atomically: the key store's and the wallet's.

:func:`write_atomic` writes a temporary file beside the target (``O_EXCL``, ``O_NOFOLLOW``,
mode 0600), flushes it, renames it over the target and flushes the directory, so a reader
sees the old file or the new one, never half of one, and a crash leaves no partial file
under the real name. Both raise :class:`OSError`; callers say what they were writing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["fsync_directory", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600; on failure remove the temporary file."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(
        temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
    )
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry change (a rename, an unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
