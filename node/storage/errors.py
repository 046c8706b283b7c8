"""Storage errors.

In a module of their own so that repositories can raise them without importing
:mod:`node.storage.db`, which imports the repositories it calls.
"""

from __future__ import annotations

from credentials.errors import TrustlaneError

__all__ = ["StorageConflictError", "StorageError"]


class StorageError(TrustlaneError):
    """The database failed or is unreachable (not the caller's fault)."""

    code = "STORAGE_ERROR"


class StorageConflictError(StorageError):
    """A uniqueness constraint refused a write (a concurrent writer got there first)."""

    code = "CONFLICT"
