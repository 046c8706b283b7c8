"""Status lists of the node: allocation, status changes, publication, status checks.

Each change of a bit publishes a new signed ``BitstringStatusListCredential`` version; every
version is kept (``status at time T``). A list whose latest version is past half its
validity is re-published on the next read, so a served list is always valid for a while.
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
from credentials.strict_json import JSONObject
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.transparency import record_signed
from node.storage import status_repo
from node.storage.db import Database
from node.storage.documents import serialize_document
from node.storage.records import StatusEntryRecord, StatusListVersionRecord
from registry.pipeline import OWN_LIST_ID
from registry.status_list import (
    BitstringStatusList,
    build_status_list_credential,
)

__all__ = [
    "LIST_ID",
    "NotFoundError",
    "StatusChange",
    "StatusConflictError",
    "StatusService",
    "list_issuer_kid",
]

PURPOSES = ("revocation", "suspension")
# The ids this node gives its lists: "revocation-1" (issued by its did:web) or
# "revocation-key-2-1" (issued by the did:key form of its key "key-2"); nothing else is ours.
LIST_ID = OWN_LIST_ID
_KEY_LIST = re.compile(r"[a-z]+-(key-[0-9]{1,9})-[0-9]{1,9}\Z", re.ASCII)


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


@dataclass(frozen=True)
class StatusChange:
    """The outcome of a status change."""

    credential_id: str
    purpose: str
    status: bool
    changed: bool
    status_list_credential: str
    version: int


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
            list_id, idx, needs_first_version = status_repo.allocate_index(
                conn,
                purpose=purpose,
                credential_id=credential_id,
                size=self._size,
                now=now,
                kid=kid,
            )
            if needs_first_version:
                # A new list is published at once, so that "status at time T" has a version
                # to answer from for every credential, from its issuance on.
                self._publish_locked(conn, list_id, now)
            allocated[purpose] = self._entry(purpose, list_id, idx)
        return [allocated[purpose] for purpose in dict.fromkeys(purposes)]

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
            entries, first_versions = status_repo.allocate_indexes(
                conn,
                purpose=purpose,
                credential_ids=credential_ids,
                size=self._size,
                now=now,
                kid=kid,
            )
            for list_id in first_versions:
                self._publish_locked(conn, list_id, now)
            allocated[purpose] = [self._entry(purpose, list_id, idx) for list_id, idx in entries]
        order = list(dict.fromkeys(purposes))
        return [[allocated[p][i] for p in order] for i in range(len(credential_ids))]

    def _entry(self, purpose: str, list_id: str, idx: int) -> JSONObject:
        url = self.list_url(list_id)
        return {
            "id": f"{url}#{idx}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(idx),
            "statusListCredential": url,
        }

    # -- publication -------------------------------------------------------------------

    def _publish_locked(
        self, conn: Connection, list_id: str, now: datetime
    ) -> StatusListVersionRecord:
        latest = status_repo.lock_list(conn, list_id)
        found = status_repo.get_list(conn, list_id)
        if found is None:
            raise NotFoundError(f"no status list {list_id!r}")
        purpose, size, _ = found
        bits = BitstringStatusList(size)
        for idx in status_repo.set_bits(conn, list_id):
            bits.set(idx, True)
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
        self, credential_id: str, purpose: str, status: bool, *, now: datetime, actor: str
    ) -> StatusChange:
        """Set the ``purpose`` bit of a credential and publish the list.

        Raises:
            MalformedInputError: Unknown purpose.
            NotFoundError: The credential has no entry for ``purpose``.
            StatusConflictError: Lifting a revocation.
        """
        if purpose not in PURPOSES:
            raise MalformedInputError(
                f"statusPurpose must be one of {list(PURPOSES)}", code="INVALID_STATUS_PURPOSE"
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
            changed = status_repo.set_entry_value(conn, entry.list_id, entry.idx, status, now)
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
                    },
                )
                version = record.version
            else:
                version = status_repo.lock_list(conn, entry.list_id)
        change = StatusChange(
            credential_id, purpose, status, changed, self.list_url(entry.list_id), version
        )
        if changed and self._on_change is not None:
            self._on_change(change)
        return change
