"""What the officer console's credential pages show: pages of the list, one credential.

Read-only: the state of a credential is derived from its status entries exactly as
``console_repo`` derives it for the list (``revoked`` wins over ``suspended``, both over
``expired``), so the list, the detail page and a verifier of the status lists agree. Changes
go through :class:`~node.services.status.StatusService` and
:class:`~node.services.issuance.IssuanceService`, never through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from credentials.aeo import AEO_CREDENTIAL_TYPE
from credentials.errors import TrustlaneError
from credentials.strict_json import JSONObject, loads_object
from node.storage import console_repo, credentials_repo, status_repo
from node.storage.console_repo import CREDENTIAL_STATES, CredentialRow
from node.storage.db import Database
from node.storage.records import CredentialRecord, StatusEntryRecord

__all__ = [
    "MAX_PAGE_SIZE",
    "ConsoleCredentials",
    "CredentialDetail",
    "CredentialPage",
    "state_of",
]

#: The most credentials one list page shows.
MAX_PAGE_SIZE = 200


def state_of(
    entries: Sequence[StatusEntryRecord], valid_until: datetime | None, now: datetime
) -> str:
    """The console state of a credential: revoked, suspended, expired or active."""
    if any(e.purpose == "revocation" and e.value for e in entries):
        return "revoked"
    if any(e.purpose == "suspension" and e.value for e in entries):
        return "suspended"
    if valid_until is not None and valid_until < now:
        return "expired"
    return "active"


@dataclass(frozen=True)
class CredentialPage:
    """One page of the credential list."""

    rows: list[CredentialRow]
    counts: dict[str, int]
    state: str | None
    page: int
    size: int
    has_next: bool


@dataclass(frozen=True)
class CredentialDetail:
    """One issued credential with its status entries and state."""

    record: CredentialRecord
    document: JSONObject
    entries: list[StatusEntryRecord]
    state: str

    @property
    def subject(self) -> JSONObject:
        """The credential subject (the first one, when there are several)."""
        subject = self.document.get("credentialSubject")
        if isinstance(subject, list):
            subject = subject[0] if subject else None
        return subject if isinstance(subject, dict) else {}

    @property
    def is_aeo(self) -> bool:
        """True for an ``AEOCertificate``."""
        return AEO_CREDENTIAL_TYPE in self.record.types

    def has_purpose(self, purpose: str) -> bool:
        """True when the credential has a status entry for ``purpose``."""
        return any(e.purpose == purpose for e in self.entries)


class ConsoleCredentials:
    """Reads the credentials this node issued for the console."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def page(self, now: datetime, *, state: str | None, page: int, size: int) -> CredentialPage:
        """Page ``page`` (1 = newest) of ``size`` credentials, only ``state`` when given.

        Raises:
            ValueError: An unknown state, or a page or size out of range.
        """
        if state is not None and state not in CREDENTIAL_STATES:
            raise ValueError(f"unknown state {state!r}")
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError("page must be 1 or more and size between 1 and the maximum")
        with self._db.read() as conn:
            rows = console_repo.credential_rows(
                conn, now, state=state, limit=size + 1, offset=(page - 1) * size
            )
            counts = console_repo.credential_state_counts(conn, now)
        return CredentialPage(rows[:size], counts, state, page, size, len(rows) > size)

    def detail(self, credential_id: str, now: datetime) -> CredentialDetail | None:
        """The credential ``credential_id`` at ``now``, or None when this node never issued it."""
        with self._db.read() as conn:
            record = credentials_repo.get_credential(conn, credential_id)
            if record is None:
                return None
            entries = status_repo.entries_for_credential(conn, credential_id)
        try:
            document = loads_object(record.document)
        except TrustlaneError:
            # Stored by this node after signing, so this cannot happen short of a damaged
            # database; the page then shows the record without the document.
            document = {}
        return CredentialDetail(
            record, document, entries, state_of(entries, record.valid_until, now)
        )
