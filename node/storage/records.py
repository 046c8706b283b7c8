"""Row values returned by the repositories (frozen, aware UTC datetimes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AuditRecord",
    "CredentialRecord",
    "KeyRecord",
    "StatusEntryRecord",
    "StatusListVersionRecord",
    "TokenRecord",
]


@dataclass(frozen=True)
class KeyRecord:
    """One of the node's signing keys (public part and lifecycle)."""

    kid: str
    public_key_multibase: str
    created_at: datetime
    retired_at: datetime | None
    compromised_since: datetime | None
    is_current: bool

    @property
    def pending(self) -> bool:
        """Announced to partners, not yet in the DID document (two-phase rotation).

        Every key but a pending one has been current: it is current or retired.
        """
        return not self.is_current and self.retired_at is None


@dataclass(frozen=True)
class CredentialRecord:
    """A credential the node issued."""

    id: str
    types: tuple[str, ...]
    subject_id: str | None
    issued_at: datetime
    valid_until: datetime | None
    document: str


@dataclass(frozen=True)
class StatusEntryRecord:
    """An allocated status list index and its current value.

    ``value`` is True when the status is not 0; ``status_value`` is the whole value (the
    reason code of a suspension on a list of ``status_size`` 2).
    """

    list_id: str
    purpose: str
    idx: int
    credential_id: str
    value: bool
    updated_at: datetime
    status_value: int = 0
    status_size: int = 1


@dataclass(frozen=True)
class StatusListVersionRecord:
    """One published, signed status list credential."""

    list_id: str
    version: int
    published_at: datetime
    valid_from: datetime
    valid_until: datetime
    etag: str
    document: str


@dataclass(frozen=True)
class TokenRecord:
    """An API token (its hash, never the token)."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    """One audit event in the hash chain."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: str
    prev_hash: str
    hash: str
