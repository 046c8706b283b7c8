"""Devices (``device-admin``): authorise scanners and portal monitors, suspend, retire."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from credentials.datetimes import format_datetime
from credentials.strict_json import JSONObject
from node.api.common import Clock, json_body, member, optional_time, require_scope
from node.services.devices import DeviceService
from node.storage.devices_repo import DeviceRecord

__all__ = ["device_json", "make_blueprint"]


def device_json(record: DeviceRecord) -> JSONObject:
    """A device as the API and the CLI show it."""
    return {
        "did": record.did,
        "name": record.name,
        "modalities": list(record.modalities),
        "site": record.site,
        "state": record.state,
        "stateReason": record.state_reason,
        "authorization": record.authorization_id,
        "validFrom": format_datetime(record.valid_from),
        "validUntil": format_datetime(record.valid_until),
        "calibrationDue": None
        if record.calibration_due is None
        else format_datetime(record.calibration_due),
    }


def make_blueprint(*, devices: DeviceService, clock: Clock) -> Blueprint:
    """The ``/devices`` blueprint."""
    bp = Blueprint("devices", __name__)

    @bp.post("/devices")
    @require_scope("device-admin")
    def register_device() -> tuple[Response, int]:
        body = json_body()
        modalities = member(body, "modalities", list)
        signed = devices.register(
            name=member(body, "name", str),
            device=member(body, "device", str),
            modalities=tuple(str(m) if isinstance(m, str) else "" for m in modalities),
            site=member(body, "site", str),
            valid_until=optional_time(
                member(body, "validUntil", str, required=False), "validUntil"
            ),
            calibration_due=optional_time(
                member(body, "calibrationDue", str, required=False), "calibrationDue"
            ),
            now=clock(),
            actor=f"token:{g.token.id}",
        )
        return jsonify({"deviceAuthorization": signed}), 201

    @bp.get("/devices")
    @require_scope("device-admin", "auditor")
    def list_devices() -> Response:
        return jsonify({"devices": [device_json(r) for r in devices.list()]})

    @bp.get("/devices/<name>")
    @require_scope("device-admin", "auditor")
    def get_device(name: str) -> Response:
        return jsonify(device_json(devices.get(name)))

    def _change(name: str, state: str) -> Response:
        body = json_body()
        reason = member(body, "reason", str, required=False)
        record = devices.set_state(
            name, state, reason=reason, now=clock(), actor=f"token:{g.token.id}"
        )
        return jsonify(device_json(record))

    @bp.post("/devices/<name>/suspend")
    @require_scope("device-admin")
    def suspend_device(name: str) -> Response:
        return _change(name, "suspended")

    @bp.post("/devices/<name>/resume")
    @require_scope("device-admin")
    def resume_device(name: str) -> Response:
        return _change(name, "active")

    @bp.post("/devices/<name>/retire")
    @require_scope("device-admin")
    def retire_device(name: str) -> Response:
        return _change(name, "retired")

    return bp
