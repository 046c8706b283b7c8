"""Scan submissions: check the device and its authorisation, countersign, log, bundle.

``POST /scans`` carries a ``ScanAttestation`` signed by the device (its proof is the
authentication: no bearer token). The node refuses it unless every check passes:

* the attestation is well formed (ISO 6346 containers, modality, result, SHA-256 of the raw
  file, scan time as ``validFrom``);
* it carries exactly one proof, the device's (``<id>#device``, by the issuer's did:key), and
  that proof was made within ``max_age`` of now (a captured submission cannot be held back
  and replayed later; an identical replay is refused by its id);
* the device is registered and active (not suspended, not retired), its authorisation is
  still valid now, and covers the scan (modality, site, scan time, calibration due).

Then the node countersigns (a proof chained to the device proof), stores and logs the
attestation in one transaction, and answers with the bundle: the attestation, the device
authorisation, both inclusion proofs and the signed checkpoint covering them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from credentials.data_integrity import ProofOptions, add_proof
from credentials.errors import VerificationError
from credentials.strict_json import JSONObject, loads_object
from node.services.audit import record_event
from node.services.devices import DeviceService
from node.services.identity import NodeIdentity
from node.services.status import NotFoundError
from node.services.transparency import TransparencyLog, record_signed
from node.storage import credentials_repo
from node.storage.db import Database, StorageConflictError, append_queued
from node.storage.documents import serialize_document
from scan_attestation.attestation import (
    SCAN_ATTESTATION_TYPE,
    check_authorized,
    check_device_proof,
    device_proof_id,
    node_proof_id,
    read_scan_attestation,
)
from scan_attestation.bundle import AttestationBundle, LogInclusion

__all__ = ["ScanService"]


def _refused(message: str, code: str) -> VerificationError:
    return VerificationError(message, code=code)


class ScanService:
    """Accepts device-signed scan attestations."""

    def __init__(
        self,
        *,
        db: Database,
        identity: NodeIdentity,
        devices: DeviceService,
        log: TransparencyLog,
        clock_skew: timedelta,
        max_age: timedelta,
    ) -> None:
        self._db = db
        self._identity = identity
        self._devices = devices
        self._log = log
        self._skew = clock_skew
        self._max_age = max_age

    def submit(self, document: JSONObject, *, now: datetime) -> AttestationBundle:
        """Check, countersign, store and log a device's attestation.

        Raises:
            MalformedInputError: A malformed attestation (the field is named).
            VerificationError: The device proof, the device or its authorisation refused
                (codes ``DEVICE_PROOF``, ``STALE_SUBMISSION``, ``SCAN_IN_FUTURE``,
                ``DEVICE_UNKNOWN``, ``DEVICE_SUSPENDED``, ``DEVICE_RETIRED``,
                ``AUTHORIZATION_EXPIRED``, ``DEVICE_NOT_AUTHORIZED``).
            StorageConflictError: Code ``DUPLICATE_ID``: this attestation was submitted
                already.
        """
        claims = read_scan_attestation(document)
        created = check_device_proof(document, claims, now=now, clock_skew=self._skew)
        if now - created > self._max_age:
            raise _refused(
                f"the device signed this attestation more than {self._max_age} ago",
                "STALE_SUBMISSION",
            )
        if claims.scan_time > now + self._skew or claims.scan_time > created + self._skew:
            raise _refused("the scan time is in the future", "SCAN_IN_FUTURE")
        try:
            record = self._devices.get(claims.device)
        except NotFoundError:
            record = None
        if record is None:
            raise _refused(f"device {claims.device} is not registered here", "DEVICE_UNKNOWN")
        if record.state != "active":
            reason = f" ({record.state_reason})" if record.state_reason else ""
            raise _refused(
                f"device {record.name} is {record.state}{reason}", f"DEVICE_{record.state.upper()}"
            )
        authorization, grant = self._devices.authorization(record)
        if now > grant.valid_until:
            raise _refused(
                f"device {record.name}'s authorisation ended; register it again",
                "AUTHORIZATION_EXPIRED",
            )
        check_authorized(claims, grant)
        signer = self._identity.current()
        countersigned = add_proof(
            document,
            signer.key,
            ProofOptions(
                verification_method=signer.did_web_vm,
                created=now.replace(microsecond=0),
                id=node_proof_id(claims.id),
                previous_proof=device_proof_id(claims.id),
            ),
        )
        with self._db.write() as conn:
            if credentials_repo.get_credential(conn, claims.id) is not None:
                raise StorageConflictError(
                    f"attestation {claims.id} was submitted already", code="DUPLICATE_ID"
                )
            credentials_repo.insert_credential(
                conn,
                credential_id=claims.id,
                types=("VerifiableCredential", SCAN_ATTESTATION_TYPE),
                subject_id=None,
                issued_at=now,
                valid_until=None,
                document=serialize_document(countersigned),
            )
            record_event(
                conn,
                now=now,
                actor=f"device:{record.name}",
                action="scan.attested",
                target=claims.id,
                details={
                    "device": record.did,
                    "result": claims.result,
                    "containers": list(claims.containers),
                },
            )
            record_signed(conn, countersigned)
            (index,) = append_queued(conn)  # audit, then log: the order every writer keeps
        return self.bundle(countersigned, authorization, index=index, now=now)

    def current_bundle(self, attestation_id: str, *, now: datetime) -> AttestationBundle:
        """The bundle of a logged attestation under the latest checkpoint.

        A bundle from ``POST /scans`` carries the checkpoint of that moment; once partners
        have cosigned a later checkpoint, this one carries their cosignatures.

        Raises:
            NotFoundError: No attestation with that id was logged here.
        """
        with self._db.read() as conn:
            stored = credentials_repo.get_credential(conn, attestation_id)
        indexes = self._log.entries_for(attestation_id)
        if stored is None or SCAN_ATTESTATION_TYPE not in stored.types or not indexes:
            raise NotFoundError(f"no scan attestation {attestation_id!r} here")
        attestation = loads_object(stored.document)
        claims = read_scan_attestation(attestation)
        record = self._devices.get(claims.device)
        authorization, _ = self._devices.authorization(record)
        return self.bundle(attestation, authorization, index=indexes[-1], now=now)

    def bundle(
        self, attestation: JSONObject, authorization: JSONObject, *, index: int, now: datetime
    ) -> AttestationBundle:
        """The bundle for a logged attestation, under the current checkpoint."""
        checkpoint = self._log.checkpoint(now)
        size = checkpoint.size
        auth_id = authorization.get("id")
        auth_indexes = [i for i in self._log.entries_for(str(auth_id)) if i < size]
        auth_inclusion = None
        if auth_indexes:
            auth_index = auth_indexes[-1]
            auth_inclusion = LogInclusion(
                auth_index, size, tuple(self._log.inclusion_proof(auth_index, size))
            )
        return AttestationBundle(
            attestation=attestation,
            device_authorization=authorization,
            checkpoint=checkpoint.note,
            attestation_inclusion=LogInclusion(
                index, size, tuple(self._log.inclusion_proof(index, size))
            ),
            authorization_inclusion=auth_inclusion,
        )
