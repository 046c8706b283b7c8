"""Issuing credentials: id, issuer binding, status entries, signature, storage, audit.

The node signs only as itself: ``issuer`` must be its did:web (signed with the did:web key
URL) or the did:key form of its current assertion key (signed with the did:key URL, for
verifiers that only resolve did:key). A status list has the issuer of the credentials that
use it: a did:key credential's entries go to lists that did:key issues. A ``credentialStatus``
the caller supplies is kept when well formed and on lists the caller runs
(:meth:`IssuanceService._check_caller_status`); AEO credentials carry the node's own entries
only.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from credentials.aeo import AEO_CREDENTIAL_TYPE, build_aeo_credential, validate_aeo_subject
from credentials.datetimes import format_datetime, shift
from credentials.errors import MalformedInputError
from credentials.model import VerifiableCredential, is_url, issuer_id
from credentials.signing import sign_credential
from credentials.strict_json import JSONObject, JSONValue
from node.services.audit import record_event
from node.services.identity import NodeIdentity, SigningKey
from node.services.status import PURPOSES, StatusService
from node.services.transparency import record_signed
from node.storage import credentials_repo
from node.storage.db import Database, StorageConflictError
from node.storage.documents import serialize_document
from node.storage.group_commit import GroupCommit
from node.storage.records import CredentialRecord
from registry.status_list import KNOWN_PURPOSES, StatusListEntry

__all__ = [
    "RESERVED_TYPES",
    "IssuanceService",
    "PreparedCredential",
    "ReservedTypeError",
]


#: Types the node signs only through its own workflows (agreements, notices, status lists,
#: device authorisations, scan attestations, presentations of its own): generic issuance
#: never signs them, whatever the token.
RESERVED_TYPES = frozenset(
    {
        "MutualRecognitionAgreement",
        "MutualRecognitionTerminationNotice",
        "BitstringStatusListCredential",
        "DeviceAuthorization",
        "ScanAttestation",
        "VerifiablePresentation",
    }
)


class ReservedTypeError(MalformedInputError):
    """Generic issuance was asked to sign a type the node signs only in its own workflows."""

    code = "RESERVED_TYPE"


def _bad(message: str, code: str = "INVALID_CREDENTIAL") -> MalformedInputError:
    return MalformedInputError(message, code=code)


@dataclass(frozen=True)
class PreparedCredential:
    """A credential that passed every issuance check: ready to be signed and stored.

    ``document`` is the unsigned credential with its id, issuer and ``validFrom`` filled in
    (status entries and proof come when it is stored). ``fresh_id``: the node drew the id
    (a random ``urn:uuid``) rather than taking the caller's.
    """

    document: JSONObject
    credential_id: str
    types: tuple[str, ...]
    subject_id: str | None
    valid_until: datetime | None
    verification_method: str
    signer: SigningKey
    status_purposes: tuple[str, ...]
    fresh_id: bool = False


def _status_kid(prepared: PreparedCredential) -> str | None:
    # A credential the node signs as its did:key points at lists that did:key issues: the
    # issuer of a status list must be the issuer of the credentials that use it.
    if prepared.verification_method == prepared.signer.did_key_vm:
        return prepared.signer.kid
    return None


def _with_entries(caller: JSONValue | None, entries: Sequence[JSONObject]) -> JSONValue:
    # The caller's own entries (already checked) come first, then the node's.
    existing: list[JSONValue] = (
        [] if caller is None else (list(caller) if isinstance(caller, list) else [caller])
    )
    merged: list[JSONValue] = [*existing, *entries]
    return merged[0] if len(merged) == 1 else merged


def _issued_details(prepared: PreparedCredential) -> dict[str, object]:
    return {"types": list(prepared.types), "verificationMethod": prepared.verification_method}


@dataclass(frozen=True)
class _Issue:
    """One issuance waiting for a transaction (a group commit unit)."""

    service: IssuanceService
    prepared: PreparedCredential
    now: datetime
    actor: str
    check_id: bool

    @property
    def credential_id(self) -> str:
        return self.prepared.credential_id

    def __call__(self, conn: Connection) -> JSONObject:
        return self.service._sign_and_store_in(
            conn, self.prepared, self.now, self.actor, check_id=self.check_id
        )


class IssuanceService:
    """Issues and stores credentials for one node."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        status: StatusService,
        credential_valid_for: timedelta,
    ) -> None:
        self._db = db
        self._identity = identity
        self._status = status
        self._valid_for = credential_valid_for
        # Concurrent issuances share a transaction and its commit flush (group commit), one
        # queue per status list issuer and set of purposes: allocation locks the issuer's list
        # heads in purpose order, and a transaction holding both the did:web's and a
        # did:key's (or a suspension head before a revocation head) could meet another
        # replica's holding them the other way round.
        self._commits: dict[tuple[str | None, tuple[str, ...]], GroupCommit[JSONObject]] = {}
        self._commits_lock = threading.Lock()

    def issue(
        self,
        credential: JSONObject,
        *,
        status_purposes: tuple[str, ...],
        now: datetime,
        actor: str,
        fresh_since: float | None = None,
    ) -> JSONObject:
        """Sign and store ``credential``; return the secured credential.

        Args:
            credential: The unsecured credential (VC 2.0). A missing ``id`` becomes a
                ``urn:uuid``, a missing ``issuer`` the node's DID, a missing ``validFrom`` now.
            status_purposes: Status entries to add (``revocation``, ``suspension``).
            now: Issuance time.
            actor: Who asked (token id), for the audit log.
            fresh_since: When the request was received (the signing key is the current one
                as of a read begun after that; see :meth:`NodeIdentity.keys`).

        Raises:
            MalformedInputError: Data model or AEO schema errors, an id already used, an
                issuer that is not this node, or a credential that already has a proof.
        """
        prepared = self._prepare(
            credential, status_purposes=status_purposes, now=now, fresh_since=fresh_since
        )
        return self._store(prepared, now=now, actor=actor)

    def _prepare(
        self,
        credential: JSONObject,
        *,
        status_purposes: tuple[str, ...],
        now: datetime,
        aeo_subject_checked: bool = False,
        workflow_type: str | None = None,
        fresh_id: bool = False,
        signer: SigningKey | None = None,
        fresh_since: float | None = None,
    ) -> PreparedCredential:
        """Every check of :meth:`issue`, without signing or storing.

        ``aeo_subject_checked``: the AEO subject is the very object that
        :func:`build_aeo_credential` just validated, so it is not validated twice.
        ``workflow_type``: the one reserved type the calling workflow signs.
        ``fresh_id``: the document's id is a random ``urn:uuid`` the node just drew.
        ``signer``: the node's current key as the caller read it (:meth:`current_signer`),
        for many credentials prepared at once; None reads it now.
        """
        now = now.replace(microsecond=0)
        doc = dict(credential)
        if "proof" in doc:
            raise _bad("the credential to issue must not carry a proof")
        for purpose in status_purposes:
            if purpose not in PURPOSES:
                raise _bad(f"unsupported statusPurpose {purpose!r}", code="INVALID_STATUS_PURPOSE")
        if signer is None:
            signer = self._identity.current(fresh_since=fresh_since)
        issuer_did = signer.key.public_key.did
        doc.setdefault("issuer", self._identity.did)
        issuer = issuer_id(doc)
        # The issuer is checked as a URL in its own right first (VC DM 2.0 §4.7), so a
        # malformed issuer is named as such, not merely as "not this node".
        if issuer is None or not is_url(issuer):
            raise _bad("issuer must be a URL or an object whose id is a URL", code="INVALID_ISSUER")
        if issuer == self._identity.did:
            vm = signer.did_web_vm
        elif issuer == issuer_did:
            vm = signer.did_key_vm
        else:
            raise _bad(
                f"issuer must be this node ({self._identity.did}) or its did:key ({issuer_did})",
                code="INVALID_ISSUER",
            )
        fresh_id = "id" not in doc or fresh_id
        if "id" not in doc:
            doc["id"] = f"urn:uuid:{uuid.uuid4()}"
        credential_id = doc["id"]
        if not isinstance(credential_id, str) or not is_url(credential_id):
            raise _bad("credential id must be a URL")
        if "validFrom" not in doc:
            doc["validFrom"] = format_datetime(now)
        if "credentialStatus" in doc:
            # Checked before the data model, so that a malformed entry is MALFORMED_VALUE
            # whatever else the data model rules would say about it.
            types = doc.get("type")
            if AEO_CREDENTIAL_TYPE in (types if isinstance(types, list) else [types]):
                raise _bad(
                    "an AEOCertificate carries only the node's own status entries; "
                    "leave credentialStatus out",
                    code="MALFORMED_VALUE",
                )
            self._check_caller_status(doc["credentialStatus"])
        parsed = VerifiableCredential.from_dict(doc)
        reserved = sorted(RESERVED_TYPES.intersection(parsed.types) - {workflow_type})
        if reserved:
            raise ReservedTypeError(
                f"{', '.join(reserved)} is signed only by the node's own workflow, never by "
                "generic issuance"
            )
        if AEO_CREDENTIAL_TYPE in parsed.types and not aeo_subject_checked:
            for subject in parsed.subjects:
                validate_aeo_subject(subject)
        if AEO_CREDENTIAL_TYPE in parsed.types:
            # An AEO credential carries the node's own revocation and suspension entries,
            # always (partners require both), and no other (refused above).
            status_purposes = tuple(dict.fromkeys((*status_purposes, *PURPOSES)))
        subject_id = parsed.subjects[0].get("id")
        # What the database indexes must fit its columns, on every backend alike.
        if len(credential_id) > 200:
            raise _bad("credential id is longer than 200 characters")
        if isinstance(subject_id, str) and len(subject_id) > 400:
            raise _bad("credentialSubject id is longer than 400 characters")
        if len(" ".join(parsed.types)) > 400:
            raise _bad("credential types are longer than 400 characters in all")
        return PreparedCredential(
            document=doc,
            credential_id=credential_id,
            types=parsed.types,
            subject_id=subject_id if isinstance(subject_id, str) else None,
            valid_until=parsed.valid_until,
            verification_method=vm,
            signer=signer,
            status_purposes=status_purposes,
            fresh_id=fresh_id,
        )

    def _check_caller_status(self, raw: JSONValue) -> None:
        """The rule for a ``credentialStatus`` the caller supplies on generic issuance.

        Accepted: well-formed ``BitstringStatusListEntry`` items (type, a purpose the spec
        defines, a decimal index, a list URL, statusSize/statusMessage/statusReference
        consistent) on lists the caller runs. Refused with ``MALFORMED_VALUE``: anything
        else, and any entry naming a list of this node (its indexes are the node's to give,
        in ``options.credentialStatus``; a caller-chosen one could share another holder's bit).
        """
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise _bad("credentialStatus must not be an empty list", code="MALFORMED_VALUE")
        own_prefix = self._status.list_url("")
        for item in items:
            try:
                entry = StatusListEntry.from_dict(item)
            except MalformedInputError as e:
                raise _bad(f"credentialStatus: {e.message}", code="MALFORMED_VALUE") from e
            if entry.status_purpose not in KNOWN_PURPOSES:
                raise _bad(
                    f"credentialStatus: statusPurpose {entry.status_purpose!r} is not one of "
                    f"{list(KNOWN_PURPOSES)}",
                    code="MALFORMED_VALUE",
                )
            if entry.status_list_credential.startswith(own_prefix):
                raise _bad(
                    "credentialStatus names a status list of this node; ask for the node's "
                    "own entries in options.credentialStatus instead",
                    code="MALFORMED_VALUE",
                )

    def _store(self, prepared: PreparedCredential, *, now: datetime, actor: str) -> JSONObject:
        try:
            return self._sign_and_store(prepared, now.replace(microsecond=0), actor)
        except StorageConflictError as e:
            # A concurrent request stored the same id between our check and our insert.
            raise _bad(
                f"credential id {prepared.credential_id} is already used", code="DUPLICATE_ID"
            ) from e

    def prepare_workflow(
        self,
        document: JSONObject,
        *,
        workflow_type: str,
        status_purposes: tuple[str, ...],
        now: datetime,
    ) -> PreparedCredential:
        """Every check of :meth:`issue` for a node workflow that signs ``workflow_type``.

        Only the node's own workflows call this (device authorisations): the reserved type
        they sign is allowed, every other reserved type is still refused.
        """
        return self._prepare(
            document, status_purposes=status_purposes, now=now, workflow_type=workflow_type
        )

    def store_in(
        self, conn: Connection, prepared: PreparedCredential, *, now: datetime, actor: str
    ) -> JSONObject:
        """Sign and store a prepared credential inside the caller's write transaction.

        Raises:
            MalformedInputError: Code ``DUPLICATE_ID``: the id is already used.
        """
        return self._sign_and_store_in(conn, prepared, now.replace(microsecond=0), actor)

    def _sign_and_store(
        self, prepared: PreparedCredential, now: datetime, actor: str
    ) -> JSONObject:
        # A random urn:uuid the node just drew is not looked up first: were it ever taken, the
        # insert's primary key would refuse it, and _store answers DUPLICATE_ID alike.
        unit = _Issue(self, prepared, now, actor, check_id=not prepared.fresh_id)
        return self._commits_for(_status_kid(prepared), prepared.status_purposes).run(unit)

    def _commits_for(
        self, kid: str | None, purposes: tuple[str, ...] = PURPOSES
    ) -> GroupCommit[JSONObject]:
        key = (kid, purposes)
        with self._commits_lock:
            commits = self._commits.get(key)
            if commits is None:
                commits = self._commits[key] = GroupCommit(
                    self._db,
                    bulk=self._store_many,
                    prelude=functools.partial(
                        self._status.lock_first_head, purposes=purposes, kid=kid
                    ),
                )
            return commits

    def _store_many(
        self, conn: Connection, units: list[Callable[[Connection], JSONObject]]
    ) -> list[JSONObject]:
        """Store the issuances of one queue together, in a few statements.

        What the units (:class:`_Issue`: one issuer, one set of purposes) would do one by
        one: one allocation per purpose, one multi-row insert. Raises (and group commit
        then runs them one by one) on anything else, and on an id already stored (so that
        the right request is told).
        """
        issues = [u for u in units if isinstance(u, _Issue)]
        if len(issues) != len(units):
            raise TypeError("only issuances are stored together")
        for unit in issues:
            if unit.check_id and credentials_repo.get_credential(conn, unit.credential_id):
                raise _bad("an id is already used", code="DUPLICATE_ID")
        return self._store_all(
            conn,
            [u.prepared for u in issues],
            nows=[u.now for u in issues],
            actors=[u.actor for u in issues],
        )

    def _sign_and_store_in(
        self,
        conn: Connection,
        prepared: PreparedCredential,
        now: datetime,
        actor: str,
        *,
        check_id: bool = True,
    ) -> JSONObject:
        credential_id = prepared.credential_id
        doc = dict(prepared.document)
        if check_id and credentials_repo.get_credential(conn, credential_id) is not None:
            raise _bad(f"credential id {credential_id} is already used", code="DUPLICATE_ID")
        if prepared.status_purposes:
            entries = self._status.allocate_entries(
                conn, credential_id, prepared.status_purposes, now, kid=_status_kid(prepared)
            )
            doc["credentialStatus"] = _with_entries(doc.get("credentialStatus"), entries)
        signed = sign_credential(
            doc,
            prepared.signer.key,
            verification_method=prepared.verification_method,
            created=now,
        )
        credentials_repo.insert_credential(
            conn,
            credential_id=credential_id,
            types=prepared.types,
            subject_id=prepared.subject_id,
            issued_at=now,
            valid_until=prepared.valid_until,
            document=serialize_document(signed),
        )
        record_signed(conn, signed)
        record_event(
            conn,
            now=now,
            actor=actor,
            action="credential.issued",
            target=credential_id,
            details=_issued_details(prepared),
        )
        return signed

    def issue_aeo(
        self,
        subject: JSONObject,
        *,
        now: datetime,
        actor: str,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        issuer: str | None = None,
        fresh_since: float | None = None,
    ) -> JSONObject:
        """Build, validate and issue an ``AEOCertificate`` with revocation and suspension.

        ``fresh_since``: as for :meth:`issue`.

        Raises:
            SchemaValidationError: The subject breaks the AEO schema (all errors listed).
            MalformedInputError: Bad validity period or issuer.
        """
        prepared = self.prepare_aeo(
            subject,
            now=now,
            valid_from=valid_from,
            valid_until=valid_until,
            issuer=issuer,
            fresh_since=fresh_since,
        )
        return self._store(prepared, now=now, actor=actor)

    def prepare_aeo(
        self,
        subject: JSONObject,
        *,
        now: datetime,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        issuer: str | None = None,
        signer: SigningKey | None = None,
        fresh_since: float | None = None,
    ) -> PreparedCredential:
        """Every check and default of :meth:`issue_aeo`, without signing or storing.

        Bulk issuance prepares rows one by one (a bad row raises here and is reported on
        its own), then signs and stores the good ones with :meth:`store_batch`; it reads
        the signing key once per batch (:meth:`current_signer`) and passes it as ``signer``
        (a batch is signed by one key).

        Raises:
            SchemaValidationError: The subject breaks the AEO schema (all errors listed).
            MalformedInputError: Bad validity period or issuer.
        """
        start = (valid_from or now).replace(microsecond=0)
        unsigned = build_aeo_credential(
            subject,
            issuer=self._identity.did if issuer is None else issuer,
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            valid_from=start,
            valid_until=valid_until or shift(start, self._valid_for),
        )
        return self._prepare(
            unsigned,
            status_purposes=PURPOSES,
            now=now,
            aeo_subject_checked=True,
            fresh_id=True,
            signer=signer,
            fresh_since=fresh_since,
        )

    def current_signer(self) -> SigningKey:
        """The node's current signing key (what :meth:`prepare_aeo` signs with by default)."""
        return self._identity.current()

    def store_batch(
        self,
        conn: Connection,
        prepared: Sequence[PreparedCredential],
        *,
        now: datetime,
        actor: str,
    ) -> list[JSONObject]:
        """Sign and store prepared credentials inside the caller's write transaction.

        What :meth:`issue` does per credential, in bulk: status entries are allocated for
        the whole batch (:meth:`StatusService.allocate_entries_bulk`), the credentials go in
        with one multi-row insert, and the audit log gets one ``credential.issued`` event per
        credential (one head lock). Every credential must ask for the same status purposes.

        Raises:
            ValueError: The batch mixes status purposes.
            StorageConflictError: (when the transaction ends) an id is already stored.
        """
        if not prepared:
            return []
        now = now.replace(microsecond=0)
        count = len(prepared)
        return self._store_all(conn, prepared, nows=[now] * count, actors=[actor] * count)

    def _store_all(
        self,
        conn: Connection,
        prepared: Sequence[PreparedCredential],
        *,
        nows: Sequence[datetime],
        actors: Sequence[str],
    ) -> list[JSONObject]:
        """:meth:`store_batch` with each credential's own issuance time and actor.

        Status entries are allocated at the first credential's time (their ``updated_at``,
        and the first version of a list opened meanwhile).
        """
        purposes = prepared[0].status_purposes
        if any(p.status_purposes != purposes for p in prepared):
            raise ValueError("every credential of a batch must ask for the same status purposes")
        kid = _status_kid(prepared[0])
        if any(_status_kid(p) != kid for p in prepared):
            raise ValueError("every credential of a batch must have the same issuer")
        docs = [dict(p.document) for p in prepared]
        if purposes:
            allocated = self._status.allocate_entries_bulk(
                conn, [p.credential_id for p in prepared], purposes, nows[0], kid=kid
            )
            for doc, entries in zip(docs, allocated, strict=True):
                doc["credentialStatus"] = _with_entries(doc.get("credentialStatus"), entries)
        signed = [
            sign_credential(
                doc, p.signer.key, verification_method=p.verification_method, created=now
            )
            for doc, p, now in zip(docs, prepared, nows, strict=True)
        ]
        credentials_repo.insert_credentials(
            conn,
            [
                CredentialRecord(
                    id=p.credential_id,
                    types=p.types,
                    subject_id=p.subject_id,
                    issued_at=now,
                    valid_until=p.valid_until,
                    document=serialize_document(vc),
                )
                for p, vc, now in zip(prepared, signed, nows, strict=True)
            ],
        )
        for vc in signed:
            record_signed(conn, vc)
        for p, now, actor in zip(prepared, nows, actors, strict=True):
            record_event(
                conn,
                now=now,
                actor=actor,
                action="credential.issued",
                target=p.credential_id,
                details=_issued_details(p),
            )
        return signed

    def get(self, credential_id: str) -> CredentialRecord | None:
        """A stored credential, or None."""
        with self._db.read() as conn:
            return credentials_repo.get_credential(conn, credential_id)
