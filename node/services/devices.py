"""Devices: authorising scanners and radiation portal monitors, suspending and retiring them.

Registering a device signs a ``DeviceAuthorization`` credential (with revocation and
suspension status entries) for the device's did:key and stores the device as active. Suspend
sets the authorisation's suspension bit (``resume`` clears it); retire revokes it for good.
The device row is what the node checks before countersigning a scan; the status lists are
what partners and auditors see.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from credentials.errors import MalformedInputError
from credentials.keys import PublicKey
from credentials.strict_json import JSONObject, loads_object
from node.services.audit import record_event
from node.services.issuance import IssuanceService
from node.services.status import PURPOSES, NotFoundError, StatusConflictError, StatusService
from node.storage import credentials_repo, devices_repo
from node.storage.db import Database
from node.storage.devices_repo import DeviceRecord
from scan_attestation.attestation import (
    DEVICE_AUTHORIZATION_TYPE,
    DeviceGrant,
    build_device_authorization,
    read_device_authorization,
)

__all__ = ["DEVICE_NAME", "DeviceService"]

DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STATES = ("active", "suspended", "retired")


class DeviceService:
    """Registers devices and changes their state."""

    def __init__(
        self,
        *,
        db: Database,
        issuance: IssuanceService,
        status: StatusService,
        did: str,
        default_valid_for: timedelta,
    ) -> None:
        self._db = db
        self._issuance = issuance
        self._status = status
        self._did = did
        self._valid_for = default_valid_for

    def register(
        self,
        *,
        name: str,
        device: str,
        modalities: tuple[str, ...],
        site: str,
        now: datetime,
        actor: str,
        valid_until: datetime | None = None,
        calibration_due: datetime | None = None,
    ) -> JSONObject:
        """Authorise ``device`` (a did:key); return the signed ``DeviceAuthorization``.

        Raises:
            MalformedInputError: A bad name, device, modality, site or validity; code
                ``DEVICE_EXISTS`` when the name or the did:key is already registered.
        """
        if not DEVICE_NAME.fullmatch(name):
            raise MalformedInputError(
                "device name must be 1-64 letters, digits, '.', '_' or '-'", code="INVALID_NAME"
            )
        PublicKey.from_did_key(device)  # an Ed25519 did:key that decodes to a valid point
        now = now.replace(microsecond=0)
        until = (valid_until or now + self._valid_for).replace(microsecond=0)
        unsigned = build_device_authorization(
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            issuer=self._did,
            device=device,
            name=name,
            modalities=modalities,
            site=site,
            valid_from=now,
            valid_until=until,
            calibration_due=calibration_due,
        )
        prepared = self._issuance.prepare_workflow(
            unsigned, workflow_type=DEVICE_AUTHORIZATION_TYPE, status_purposes=PURPOSES, now=now
        )
        with self._db.write() as conn:
            for key in (name, device):
                if devices_repo.get_device(conn, key) is not None:
                    raise MalformedInputError(
                        f"a device {key} is already registered", code="DEVICE_EXISTS"
                    )
            signed = self._issuance.store_in(conn, prepared, now=now, actor=actor)
            grant = read_device_authorization(signed)
            devices_repo.insert_device(
                conn,
                DeviceRecord(
                    did=device,
                    name=name,
                    modalities=grant.modalities,
                    site=grant.site,
                    state="active",
                    authorization_id=grant.credential_id,
                    valid_from=grant.valid_from,
                    valid_until=grant.valid_until,
                    calibration_due=grant.calibration_due,
                    registered_at=now,
                    updated_at=now,
                    state_reason=None,
                ),
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="device.registered",
                target=device,
                details={"name": name, "authorization": grant.credential_id},
            )
        return signed

    def get(self, did_or_name: str) -> DeviceRecord:
        """A device by did:key or name.

        Raises:
            NotFoundError: No such device.
        """
        with self._db.read() as conn:
            record = devices_repo.get_device(conn, did_or_name)
        if record is None:
            raise NotFoundError(f"no device {did_or_name!r}")
        return record

    def list(self) -> list[DeviceRecord]:
        """Every device, by name."""
        with self._db.read() as conn:
            return devices_repo.list_devices(conn)

    def authorization(self, record: DeviceRecord) -> tuple[JSONObject, DeviceGrant]:
        """The device's signed authorisation and what it grants."""
        with self._db.read() as conn:
            stored = credentials_repo.get_credential(conn, record.authorization_id)
        if stored is None:  # pragma: no cover - a foreign key keeps it
            raise NotFoundError(f"authorisation {record.authorization_id} is missing")
        document = loads_object(stored.document)
        return document, read_device_authorization(document)

    def set_state(
        self, did_or_name: str, state: str, *, reason: str | None, now: datetime, actor: str
    ) -> DeviceRecord:
        """Suspend (``suspended``), resume (``active``) or retire (``retired``) a device.

        The device row changes first (scans are refused from then on), then the status bit is
        published; asking again re-applies the bit, so an interrupted change can be finished.

        Raises:
            NotFoundError: No such device.
            StatusConflictError: A retired device cannot change state again.
        """
        if state not in _STATES:
            raise MalformedInputError(f"state must be one of {list(_STATES)}", code="INVALID_STATE")
        with self._db.write() as conn:
            record = devices_repo.get_device(conn, did_or_name, lock=True)
            if record is None:
                raise NotFoundError(f"no device {did_or_name!r}")
            if record.state == "retired" and state != "retired":
                raise StatusConflictError(f"device {record.name} is retired for good")
            devices_repo.set_state(conn, record.did, state, reason=reason, now=now)
            record_event(
                conn,
                now=now,
                actor=actor,
                action=f"device.{state}",
                target=record.did,
                details={"name": record.name, "reason": reason},
            )
        if state == "retired":
            self._status.set_status(
                record.authorization_id, "revocation", True, now=now, actor=actor
            )
        else:
            self._status.set_status(
                record.authorization_id, "suspension", state == "suspended", now=now, actor=actor
            )
        return self.get(record.did)
