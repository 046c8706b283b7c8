"""Status lists of the node: allocation, status changes, publication, status checks.

Each change of a bit publishes a new signed ``BitstringStatusListCredential`` version; every
version is kept (``status at time T``). A list whose latest version is past half its
validity is re-published on the next read, so a served list is always valid for a while.

Revocation entries are one bit. Suspension entries allocated since migration 0015 are
:data:`SUSPENSION_STATUS_SIZE` bits on their own lists (``suspensionreason-N``): the value is
the reason code of the suspension (:data:`SUSPENSION_REASONS`), and the entry's
``statusMessage`` names every value, so a verifier anywhere reads why. Credentials issued
earlier keep their 1-bit suspension entries: they can still be suspended, without a reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from credentials.errors import MalformedInputError, TrustlaneError
from credentials.signing import sign_credential
from credentials.strict_json import JSONObject, JSONValue
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.transparency import record_signed
from node.storage import status_alloc_repo, status_repo
from node.storage.db import Database
from node.storage.documents import serialize_document
from node.storage.records import StatusEntryRecord, StatusListVersionRecord
from registry.pipeline import OWN_LIST_ID
from registry.status_list import (
    BitstringStatusList,
    build_status_list_credential,
)

__all__ = [
    "DEFAULT_SUSPENSION_REASON",
    "LIST_ID",
    "SUSPENSION_REASONS",
    "SUSPENSION_STATUS_SIZE",
    "NotFoundError",
    "StatusChange",
    "StatusConflictError",
    "StatusReasonUnsupportedError",
    "StatusService",
    "SuspensionReason",
    "list_issuer_kid",
    "reason_of",
    "status_message",
    "suspension_status_message",
]

PURPOSES = ("revocation", "suspension")
# The ids this node gives its lists: "revocation-1" (issued by its did:web) or
# "revocation-key-2-1" (issued by the did:key form of its key "key-2"); nothing else is ours.
LIST_ID = OWN_LIST_ID
_KEY_LIST = re.compile(r"[a-z]+-(key-[0-9]{1,9})-[0-9]{1,9}\Z", re.ASCII)


@dataclass(frozen=True)
class SuspensionReason:
    """One reason a suspension may carry: its API code, status value, message and label.

    ``message`` is its ``statusMessage`` (what verifiers read); ``label`` names the reason in
    the console's select.
    """

    code: str
    value: int
    message: str
    label: str


#: Bits per suspension entry: 0 (not suspended) and three reasons.
SUSPENSION_STATUS_SIZE = 2
#: The reasons a suspension can carry (value 0 is "not suspended"). The three grounds on
#: which a customs administration suspends an AEO authorisation: suspected offences under
#: investigation, the holder's own request, and a finding that the criteria are not met.
SUSPENSION_REASONS = (
    SuspensionReason("investigation", 0x1, "suspended: under investigation", "Under investigation"),
    SuspensionReason(
        "holder-request", 0x2, "suspended at the holder's request", "At the holder's request"
    ),
    SuspensionReason(
        "compliance-finding",
        0x3,
        "suspended: compliance finding (AEO criteria not met)",
        "Compliance finding (AEO criteria not met)",
    ),
)
#: The reason recorded when a suspension on a 2-bit list states none (devices, old clients).
DEFAULT_SUSPENSION_REASON = "investigation"
_NOT_SUSPENDED = "not suspended"
_REASONS = {r.code: r for r in SUSPENSION_REASONS}
_REASON_OF_VALUE = {r.value: r for r in SUSPENSION_REASONS}
# The lists of 2-bit suspension entries: their own heads and ids ("suspensionreason-1"), so
# that a 1-bit and a 2-bit list never share an id. Letters only: partners' LIST_ID matches.
_STEMS = {"suspension": "suspensionreason"}
_STATUS_SIZES = {"suspension": SUSPENSION_STATUS_SIZE}


def suspension_status_message() -> list[JSONValue]:
    """The ``statusMessage`` of a 2-bit suspension entry: every value, ``0x0`` first."""
    messages: list[JSONValue] = [{"status": "0x0", "message": _NOT_SUSPENDED}]
    messages.extend({"status": f"{r.value:#x}", "message": r.message} for r in SUSPENSION_REASONS)
    return messages


def list_issuer_kid(list_id: str) -> str | None:
    """The kid whose did:key issues list ``list_id``, or None when the did:web issues it."""
    match = _KEY_LIST.match(list_id)
    return match.group(1) if match else None


class NotFoundError(TrustlaneError):
    """The thing asked for does not exist here."""

    code = "NOT_FOUND"


class StatusConflictError(TrustlaneError):
    """The requested status change is not allowed (e.g. lifting a revocation)."""

    code = "STATUS_CONFLICT"


class StatusReasonUnsupportedError(StatusConflictError):
    """A reason was given for a credential whose suspension entry is one bit (older)."""

    code = "STATUS_REASON_UNSUPPORTED"


@dataclass(frozen=True)
class StatusChange:
    """The outcome of a status change."""

    credential_id: str
    purpose: str
    status: bool
    changed: bool
    status_list_credential: str
    version: int
    status_value: int = 0
    reason: str | None = None
    status_message: str | None = None


class StatusService:
    """Status lists of one node."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        base_url: str,
        list_size: int,
        valid_for: timedelta,
        on_change: Callable[[StatusChange], None] | None = None,
    ) -> None:
        self._db = db
        self._identity = identity
        self._base_url = base_url.rstrip("/")
        self._size = list_size
        self._valid_for = valid_for
        # Told of every status change after it is committed (the push to peers).
        self._on_change = on_change

    def list_url(self, list_id: str) -> str:
        """The public URL of a status list credential."""
        return f"{self._base_url}/status-lists/{list_id}"

    def list_urls(self) -> list[str]:
        """The URLs of every list this node publishes."""
        with self._db.read() as conn:
            return [self.list_url(list_id) for list_id in status_repo.list_ids(conn)]

    def list_id_of(self, url: str) -> str | None:
        """The list id when ``url`` names one of this node's lists, else None."""
        prefix = self._base_url + "/status-lists/"
        if not url.startswith(prefix):
            return None
        list_id = url[len(prefix) :]
        return list_id if LIST_ID.match(list_id) else None

    # -- issuance ----------------------------------------------------------------------

    def allocate_entries(
        self,
        conn: Connection,
        credential_id: str,
        purposes: tuple[str, ...],
        now: datetime,
        *,
        kid: str | None = None,
    ) -> list[JSONObject]:
        """Allocate one entry per distinct purpose inside the issuing transaction; return them.

        ``kid``: the credential is issued by the did:key form of this key, so its entries go
        to lists that this did:key issues (a status list has the issuer of the credentials
        that use it); None for the node's did:web.

        Entries come back in the order of ``purposes``, but are allocated in sorted purpose
        order: opening a list locks its purpose's head row, and one order for every
        transaction keeps two issuers from waiting on each other's locks.
        """
        allocated: dict[str, JSONObject] = {}
        for purpose in sorted(set(purposes)):
            list_id, idx, needs_first_version = status_alloc_repo.allocate_index(
                conn,
                purpose=purpose,
                credential_id=credential_id,
                size=self._size,
                now=now,
                kid=kid,
                status_size=_STATUS_SIZES.get(purpose, 1),
                stem=_STEMS.get(purpose),
            )
            if needs_first_version:
                # A new list is published at once, so that "status at time T" has a version
                # to answer from for every credential, from its issuance on.
                self._publish_locked(conn, list_id, now)
            allocated[purpose] = self._entry(purpose, list_id, idx)
        return [allocated[purpose] for purpose in dict.fromkeys(purposes)]

    def lock_first_head(
        self, conn: Connection, purposes: tuple[str, ...], *, kid: str | None = None
    ) -> None:
        """Take the first lock :meth:`allocate_entries` would take for ``purposes``.

        The head row of the first purpose in sorted order (the allocation order), so the
        lock order stays the allocation's own. Nothing without purposes.
        """
        if purposes:
            first = min(purposes)
            status_alloc_repo.lock_head_row(conn, first, kid=kid, stem=_STEMS.get(first))

    def allocate_entries_bulk(
        self,
        conn: Connection,
        credential_ids: Sequence[str],
        purposes: tuple[str, ...],
        now: datetime,
        *,
        kid: str | None = None,
    ) -> list[list[JSONObject]]:
        """:meth:`allocate_entries` for many credentials at once (bulk issuance).

        Returns:
            Per credential, in order, its entries in the order of ``purposes``.
        """
        allocated: dict[str, list[JSONObject]] = {}
        for purpose in sorted(set(purposes)):  # the same lock order as allocate_entries
            entries, first_versions = status_alloc_repo.allocate_indexes(
                conn,
                purpose=purpose,
                credential_ids=credential_ids,
                size=self._size,
                now=now,
                kid=kid,
                status_size=_STATUS_SIZES.get(purpose, 1),
                stem=_STEMS.get(purpose),
            )
            for list_id in first_versions:
                self._publish_locked(conn, list_id, now)
            allocated[purpose] = [self._entry(purpose, list_id, idx) for list_id, idx in entries]
        order = list(dict.fromkeys(purposes))
        return [[allocated[p][i] for p in order] for i in range(len(credential_ids))]

    def _entry(self, purpose: str, list_id: str, idx: int) -> JSONObject:
        url = self.list_url(list_id)
        entry: JSONObject = {
            "id": f"{url}#{idx}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(idx),
            "statusListCredential": url,
        }
        size = _STATUS_SIZES.get(purpose, 1)
        if size > 1:
            entry["statusSize"] = size
            entry["statusMessage"] = suspension_status_message()
        return entry

    # -- publication -------------------------------------------------------------------

    def _publish_locked(
        self, conn: Connection, list_id: str, now: datetime
    ) -> StatusListVersionRecord:
        latest = status_repo.lock_list(conn, list_id)
        found = status_repo.get_list(conn, list_id)
        if found is None:
            raise NotFoundError(f"no status list {list_id!r}")
        purpose, size, _ = found
        width = status_repo.get_status_size(conn, list_id)
        # Spec §2.1: a list of statusSize-bit entries is that many bits per entry.
        bits = BitstringStatusList(size * width)
        for idx, value in status_repo.set_values(conn, list_id):
            bits.set_value(idx, width, value if width > 1 else 1)
        kid = list_issuer_kid(list_id)
        if kid is None:
            signer = self._identity.current()
            issuer, vm = self._identity.did, signer.did_web_vm
        else:
            # A did:key's lists are signed by that very key, whichever key is current.
            signer = self._identity.signing_key(kid)
            issuer, vm = signer.key.public_key.did, signer.did_key_vm
        # Milliseconds, strictly after the previous version: versions published within one
        # second stay ordered by validFrom, which peers use to refuse rollbacks.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        previous = status_repo.latest_version(conn, list_id)
        if previous is not None and now <= previous.valid_from:
            now = previous.valid_from + timedelta(milliseconds=1)
        unsigned = build_status_list_credential(
            list_id=self.list_url(list_id),
            issuer=issuer,
            purpose=purpose,
            status_list=bits,
            valid_from=now,
            valid_until=now + self._valid_for,
        )
        signed = sign_credential(unsigned, signer.key, verification_method=vm, created=now)
        document = serialize_document(signed)
        record = StatusListVersionRecord(
            list_id=list_id,
            version=latest + 1,
            published_at=now,
            valid_from=now,
            valid_until=now + self._valid_for,
            etag='"' + hashlib.sha256(document.encode()).hexdigest()[:32] + '"',
            document=document,
        )
        status_repo.insert_version(conn, record)
        record_signed(conn, signed)
        return record

    def current_version(self, list_id: str, now: datetime) -> StatusListVersionRecord:
        """The latest version, re-published first when it is missing or half expired.

        Raises:
            NotFoundError: No such list.
        """
        with self._db.read() as conn:
            record = status_repo.latest_version(conn, list_id)
            exists = record is not None or status_repo.get_list(conn, list_id) is not None
        if not exists:
            raise NotFoundError(f"no status list {list_id!r}")
        if record is not None and record.valid_until - now > self._valid_for / 2:
            return record
        with self._db.write() as conn:
            # Someone else may have re-published meanwhile: check again under the lock.
            status_repo.lock_list(conn, list_id)
            again = status_repo.latest_version(conn, list_id)
            if again is not None and again.valid_until - now > self._valid_for / 2:
                return again
            return self._publish_locked(conn, list_id, now)

    def republish(self, list_id: str, now: datetime) -> StatusListVersionRecord:
        """Publish a new version of a list now, signed with the current key.

        Raises:
            NotFoundError: No such list.
        """
        with self._db.write() as conn:
            status_repo.lock_list(conn, list_id)
            return self._publish_locked(conn, list_id, now)

    def version_at(self, list_id: str, at: datetime) -> StatusListVersionRecord | None:
        """The version that was current at ``at`` (for "status at time T")."""
        with self._db.read() as conn:
            return status_repo.version_at(conn, list_id, at)

    # -- status changes ----------------------------------------------------------------

    def entries(self, credential_id: str) -> list[StatusEntryRecord]:
        """The status entries of an issued credential."""
        with self._db.read() as conn:
            return status_repo.entries_for_credential(conn, credential_id)

    def set_status(
        self,
        credential_id: str,
        purpose: str,
        status: bool,
        *,
        now: datetime,
        actor: str,
        reason: str | None = None,
    ) -> StatusChange:
        """Set the ``purpose`` status of a credential and publish the list.

        Args:
            credential_id: The credential (issued here).
            purpose: ``revocation`` or ``suspension``.
            status: True to revoke or suspend, False to lift a suspension (value 0).
            now: The time of the change.
            actor: Who asks (for the audit log).
            reason: For a suspension, one of the :data:`SUSPENSION_REASONS` codes; None
                records :data:`DEFAULT_SUSPENSION_REASON` on a 2-bit entry (or keeps the
                reason of one already suspended) and sets the bit of a 1-bit one.
                Suspending again with another reason changes the reason.

        Raises:
            MalformedInputError: Unknown purpose or reason (``INVALID_STATUS_REASON``), or a
                reason given when not suspending.
            NotFoundError: The credential has no entry for ``purpose``.
            StatusConflictError: Lifting a revocation.
            StatusReasonUnsupportedError: A reason for a credential whose suspension entry is
                one bit (issued before reason codes).
        """
        if purpose not in PURPOSES:
            raise MalformedInputError(
                f"statusPurpose must be one of {list(PURPOSES)}", code="INVALID_STATUS_PURPOSE"
            )
        if reason is not None:
            if reason not in _REASONS:
                raise MalformedInputError(
                    f"unknown suspension reason {reason!r}: use one of {list(_REASONS)}",
                    code="INVALID_STATUS_REASON",
                )
            if purpose != "suspension" or not status:
                raise MalformedInputError(
                    "a reason is given only when suspending (statusPurpose suspension, "
                    "status true); lifting sets the status to 0",
                    code="INVALID_STATUS_REASON",
                )
        with self._db.write() as conn:
            found = [
                e
                for e in status_repo.entries_for_credential(conn, credential_id)
                if e.purpose == purpose
            ]
            if not found:
                raise NotFoundError(
                    f"credential {credential_id!r} has no {purpose} status entry on this node"
                )
            entry = found[0]
            if purpose == "revocation" and entry.value and not status:
                raise StatusConflictError("a revocation cannot be lifted")
            if reason is not None and entry.status_size == 1:
                raise StatusReasonUnsupportedError(
                    f"credential {credential_id!r} predates suspension reason codes: its "
                    "suspension entry is one bit, so it can be suspended only without a reason"
                )
            value, chosen = _target_value(entry, status, reason)
            changed = status_repo.set_entry_status(conn, entry.list_id, entry.idx, value, now)
            if changed:
                record = self._publish_locked(conn, entry.list_id, now)
                record_event(
                    conn,
                    now=now,
                    actor=actor,
                    action=f"status.{purpose}",
                    target=credential_id,
                    details={
                        "status": status,
                        "list": entry.list_id,
                        "index": entry.idx,
                        "version": record.version,
                        **({"reason": chosen.code} if chosen is not None else {}),
                    },
                )
                version = record.version
            else:
                version = status_repo.lock_list(conn, entry.list_id)
        change = StatusChange(
            credential_id,
            purpose,
            status,
            changed,
            self.list_url(entry.list_id),
            version,
            status_value=value,
            reason=None if chosen is None else chosen.code,
            status_message=status_message(entry.status_size, value),
        )
        if changed and self._on_change is not None:
            self._on_change(change)
        return change


def _target_value(
    entry: StatusEntryRecord, status: bool, reason: str | None
) -> tuple[int, SuspensionReason | None]:
    """The entry value a change sets, and the reason it records (None: no reason)."""
    if not status:
        return 0, None
    if entry.status_size == 1:
        return 1, None
    if reason is None and entry.status_value != 0:
        # Suspending a suspended credential without a reason keeps the reason it has.
        kept = _REASON_OF_VALUE.get(entry.status_value)
        if kept is not None:
            return kept.value, kept
    chosen = _REASONS[reason or DEFAULT_SUSPENSION_REASON]
    return chosen.value, chosen


def status_message(status_size: int, value: int) -> str | None:
    """The message of a suspension entry's value on a 2-bit list (None on a 1-bit list)."""
    if status_size == 1:
        return None
    if value == 0:
        return _NOT_SUSPENDED
    found = _REASON_OF_VALUE.get(value)
    return None if found is None else found.message


def reason_of(status_size: int, value: int) -> SuspensionReason | None:
    """The suspension reason a stored value stands for (None when 0 or on a 1-bit list)."""
    return None if status_size == 1 else _REASON_OF_VALUE.get(value)
