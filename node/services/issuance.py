"""Issuing credentials: id, issuer binding, status entries, signature, storage, audit.

The node signs only as itself: ``issuer`` must be its did:web (signed with the did:web key
URL) or the did:key form of its current assertion key (signed with the did:key URL, for
verifiers that only resolve did:key).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from credentials.aeo import AEO_CREDENTIAL_TYPE, build_aeo_credential, validate_aeo_subject
from credentials.datetimes import format_datetime, shift
from credentials.errors import MalformedInputError
from credentials.model import VerifiableCredential, is_url
from credentials.signing import sign_credential
from credentials.strict_json import JSONObject
from node.services.audit import record_event
from node.services.identity import NodeIdentity, SigningKey
from node.services.status import PURPOSES, StatusService
from node.storage import credentials_repo
from node.storage.db import Database, StorageConflictError
from node.storage.records import CredentialRecord

__all__ = ["RESERVED_TYPES", "IssuanceService", "ReservedTypeError"]


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

    def issue(
        self,
        credential: JSONObject,
        *,
        status_purposes: tuple[str, ...],
        now: datetime,
        actor: str,
    ) -> JSONObject:
        """Sign and store ``credential``; return the secured credential.

        Args:
            credential: The unsecured credential (VC 2.0). A missing ``id`` becomes a
                ``urn:uuid``, a missing ``issuer`` the node's DID, a missing ``validFrom`` now.
            status_purposes: Status entries to add (``revocation``, ``suspension``).
            now: Issuance time.
            actor: Who asked (token id), for the audit log.

        Raises:
            MalformedInputError: Data model or AEO schema errors, an id already used, an
                issuer that is not this node, or a credential that already has a proof.
        """
        now = now.replace(microsecond=0)
        doc = dict(credential)
        if "proof" in doc:
            raise _bad("the credential to issue must not carry a proof")
        if "credentialStatus" in doc:
            raise _bad("credentialStatus is assigned by the node; ask for it in options")
        for purpose in status_purposes:
            if purpose not in PURPOSES:
                raise _bad(f"unsupported statusPurpose {purpose!r}", code="INVALID_STATUS_PURPOSE")
        signer = self._identity.current()
        issuer_did = signer.key.public_key.did
        doc.setdefault("issuer", self._identity.did)
        raw_issuer = doc["issuer"]
        issuer = raw_issuer.get("id") if isinstance(raw_issuer, dict) else raw_issuer
        if issuer == self._identity.did:
            vm = signer.did_web_vm
        elif issuer == issuer_did:
            vm = signer.did_key_vm
        else:
            raise _bad(
                f"issuer must be this node ({self._identity.did}) or its did:key ({issuer_did})",
                code="INVALID_ISSUER",
            )
        doc.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
        credential_id = doc["id"]
        if not isinstance(credential_id, str) or not is_url(credential_id):
            raise _bad("credential id must be a URL")
        doc.setdefault("validFrom", format_datetime(now))
        parsed = VerifiableCredential.from_dict(doc)
        reserved = sorted(RESERVED_TYPES.intersection(parsed.types))
        if reserved:
            raise ReservedTypeError(
                f"{', '.join(reserved)} is signed only by the node's own workflow, never by "
                "generic issuance"
            )
        if AEO_CREDENTIAL_TYPE in parsed.types:
            for subject in parsed.subjects:
                validate_aeo_subject(subject)
        subject_id = parsed.subjects[0].get("id")
        # What the database indexes must fit its columns, on every backend alike.
        if len(credential_id) > 200:
            raise _bad("credential id is longer than 200 characters")
        if isinstance(subject_id, str) and len(subject_id) > 400:
            raise _bad("credentialSubject id is longer than 400 characters")
        if len(" ".join(parsed.types)) > 400:
            raise _bad("credential types are longer than 400 characters in all")
        try:
            return self._sign_and_store(
                doc, parsed, credential_id, subject_id, vm, signer, status_purposes, now, actor
            )
        except StorageConflictError as e:
            # A concurrent request stored the same id between our check and our insert.
            raise _bad(f"credential id {credential_id} is already used", code="DUPLICATE_ID") from e

    def _sign_and_store(
        self,
        doc: JSONObject,
        parsed: VerifiableCredential,
        credential_id: str,
        subject_id: object,
        vm: str,
        signer: SigningKey,
        status_purposes: tuple[str, ...],
        now: datetime,
        actor: str,
    ) -> JSONObject:
        with self._db.write() as conn:
            if credentials_repo.get_credential(conn, credential_id) is not None:
                raise _bad(f"credential id {credential_id} is already used", code="DUPLICATE_ID")
            if status_purposes:
                entries = self._status.allocate_entries(conn, credential_id, status_purposes, now)
                doc["credentialStatus"] = entries[0] if len(entries) == 1 else list(entries)
            signed = sign_credential(doc, signer.key, verification_method=vm, created=now)
            credentials_repo.insert_credential(
                conn,
                credential_id=credential_id,
                types=parsed.types,
                subject_id=subject_id if isinstance(subject_id, str) else None,
                issued_at=now,
                valid_until=parsed.valid_until,
                document=json.dumps(signed, separators=(",", ":"), ensure_ascii=False),
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="credential.issued",
                target=credential_id,
                details={"types": list(parsed.types), "verificationMethod": vm},
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
    ) -> JSONObject:
        """Build, validate and issue an ``AEOCertificate`` with revocation and suspension.

        Raises:
            SchemaValidationError: The subject breaks the AEO schema (all errors listed).
            MalformedInputError: Bad validity period or issuer.
        """
        start = (valid_from or now).replace(microsecond=0)
        unsigned = build_aeo_credential(
            subject,
            issuer=issuer or self._identity.did,
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            valid_from=start,
            valid_until=valid_until or shift(start, self._valid_for),
        )
        return self.issue(unsigned, status_purposes=PURPOSES, now=now, actor=actor)

    def get(self, credential_id: str) -> CredentialRecord | None:
        """A stored credential, or None."""
        with self._db.read() as conn:
            return credentials_repo.get_credential(conn, credential_id)
