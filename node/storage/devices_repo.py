"""The ``devices`` table: authorised scanners and radiation portal monitors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from node.storage.schema import devices

__all__ = ["DeviceRecord", "get_device", "insert_device", "list_devices", "set_state"]


@dataclass(frozen=True)
class DeviceRecord:
    """One device as stored."""

    did: str
    name: str
    modalities: tuple[str, ...]
    site: str
    state: str
    authorization_id: str
    valid_from: datetime
    valid_until: datetime
    calibration_due: datetime | None
    registered_at: datetime
    updated_at: datetime
    state_reason: str | None


def _record(row: Row[Any]) -> DeviceRecord:
    m = row._mapping
    return DeviceRecord(
        did=m["did"],
        name=m["name"],
        modalities=tuple(m["modalities"].split()),
        site=m["site"],
        state=m["state"],
        authorization_id=m["authorization_id"],
        valid_from=m["valid_from"],
        valid_until=m["valid_until"],
        calibration_due=m["calibration_due"],
        registered_at=m["registered_at"],
        updated_at=m["updated_at"],
        state_reason=m["state_reason"],
    )


def insert_device(conn: Connection, record: DeviceRecord) -> None:
    """Insert a device (the primary key and the unique name refuse duplicates)."""
    conn.execute(
        devices.insert().values(
            did=record.did,
            name=record.name,
            modalities=" ".join(record.modalities),
            site=record.site,
            state=record.state,
            authorization_id=record.authorization_id,
            valid_from=record.valid_from,
            valid_until=record.valid_until,
            calibration_due=record.calibration_due,
            registered_at=record.registered_at,
            updated_at=record.updated_at,
            state_reason=record.state_reason,
        )
    )


def get_device(conn: Connection, did_or_name: str, *, lock: bool = False) -> DeviceRecord | None:
    """The device with this did:key or name, or None."""
    column = devices.c.did if did_or_name.startswith("did:") else devices.c.name
    query = select(devices).where(column == did_or_name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else _record(row)


def list_devices(conn: Connection) -> list[DeviceRecord]:
    """Every device, by name."""
    return [_record(r) for r in conn.execute(select(devices).order_by(devices.c.name))]


def set_state(conn: Connection, did: str, state: str, *, reason: str | None, now: datetime) -> None:
    """Move a device to ``state``."""
    conn.execute(
        update(devices)
        .where(devices.c.did == did)
        .values(state=state, state_reason=reason, updated_at=now)
    )
