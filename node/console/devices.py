"""The console's device pages: the node's scanners and portal monitors.

``/console/devices`` lists them (state, modalities, site, validity, calibration due, with
past-due and soon-due dates highlighted); ``/console/devices/<name>`` shows one with its
authorisation and its status bits. ``device-admin`` registers, suspends, resumes and retires
(after a confirmation: retiring cannot be undone); ``auditor`` may look. The same scopes as
``/devices`` in the API.

Registering takes the device's did:key: the device makes its key pair itself and shows its
public did:key; the console never makes, sees or keeps a device's private key (the CLI's
``trustlane device register`` is the way to have the node generate one into files).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from credentials.errors import TrustlaneError
from node.api.errors import status_of
from node.console.web import console_blueprint, console_scope, current_user, render_page
from node.services.console_registry import ConsoleRegistry
from node.services.console_sessions import ConsoleSessions
from node.services.devices import DeviceService
from node.services.tokens import has_scope
from scan_attestation.attestation import MODALITIES

__all__ = ["MAX_REASON", "FormError", "form_date", "make_blueprint"]

#: Longest reason accepted for a state change (it goes to the audit log).
MAX_REASON = 500
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: Fixed notices after a change (``?done=``): never text from the request.
DONE = {
    "registered": "Device registered: its authorisation is signed and it is active.",
    "suspended": "Device suspended: its scans are refused until it is resumed.",
    "resumed": "Device resumed: its scans are accepted again.",
    "retired": "Device retired: its authorisation is revoked for good.",
}
_CHANGES = {"suspend": "suspended", "resume": "active", "retire": "retired"}
_DONE_OF = {"suspend": "suspended", "resume": "resumed", "retire": "retired"}


class FormError(Exception):
    """A form that cannot be taken: the page is shown again with ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def form_date(field: str, label: str) -> datetime | None:
    """A ``YYYY-MM-DD`` form field as the start of that day (UTC), or None when empty."""
    value = request.form.get(field, "").strip()
    if not value:
        return None
    if not _DATE.fullmatch(value):
        raise FormError(f"{label} must be a date (YYYY-MM-DD).")
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise FormError(f"{label}: {value} is not a date.") from None


def _text(field: str, label: str, limit: int) -> str:
    value = request.form.get(field, "").strip()
    if len(value) > limit or _CONTROL.search(value):
        raise FormError(f"{label} must be at most {limit} characters of text.")
    return value


def _reason() -> str:
    reason = _text("reason", "The reason", MAX_REASON)
    if not reason:
        raise FormError("Give a reason: it goes to the audit log and the device's record.")
    return reason


def make_blueprint(
    *,
    sessions: ConsoleSessions,
    devices: DeviceService,
    views: ConsoleRegistry,
    clock: Callable[[], datetime],
) -> Blueprint:
    """The ``/console/devices`` blueprint."""
    bp = console_blueprint("console_devices", __name__, sessions=sessions, clock=clock)

    def can_change() -> bool:
        return has_scope(current_user().token, "device-admin")

    @bp.get("/devices", endpoint="devices")
    @console_scope("device-admin", "auditor")
    def devices_page() -> Response:
        notices = [("ok", DONE[d])] if (d := request.args.get("done")) in DONE else []
        return render_page(
            "console/devices.html",
            devices=views.devices(g.console_now),
            can_change=can_change(),
            notices=notices,
        )

    def register_form(status: int = 200, error: str | None = None) -> Response:
        return render_page(
            "console/device_register.html",
            status=status,
            modalities=MODALITIES,
            form=request.form,
            chosen=request.form.getlist("modality"),
            notices=[("error", error)] if error else [],
        )

    @bp.get("/devices/new")
    @console_scope("device-admin")
    def new_device() -> Response:
        return register_form()

    @bp.post("/devices")
    @console_scope("device-admin")
    def register_device() -> BaseResponse:
        try:
            name = _text("name", "The name", 64)
            did = _text("did", "The device's did:key", 200)
            site = _text("site", "The site", 16)
            if not name or not did or not site:
                raise FormError("Name, the device's did:key and site are required.")
            if not did.startswith("did:key:"):
                raise FormError(
                    "The device's key must be a did:key (did:key:z6Mk...), as the device shows it."
                )
            chosen = request.form.getlist("modality")
            if not chosen or any(m not in MODALITIES for m in chosen):
                raise FormError(f"Choose at least one modality of {', '.join(MODALITIES)}.")
            valid_until = form_date("valid_until", "Valid until")
            calibration_due = form_date("calibration_due", "Calibration due")
            now = g.console_now
            if valid_until is not None and valid_until <= now:
                raise FormError("Valid until must be a future date.")
            devices.register(
                name=name,
                device=did,
                modalities=tuple(dict.fromkeys(chosen)),
                site=site,
                now=now,
                actor=current_user().actor,
                valid_until=valid_until,
                calibration_due=calibration_due,
            )
        except FormError as e:
            return register_form(e.status, e.message)
        except TrustlaneError as e:
            status = status_of(e)
            if status >= 500:
                raise
            return register_form(409 if e.code == "DEVICE_EXISTS" else status, e.message)
        return redirect(url_for(".device", name=name, done="registered"), 303)

    def device_page(name: str, status: int = 200, error: str | None = None) -> Response:
        notices: list[tuple[str, str]] = []
        if error:
            notices.append(("error", error))
        elif (d := request.args.get("done")) in DONE:
            notices.append(("ok", DONE[d]))
        return render_page(
            "console/device.html",
            status=status,
            d=views.device(name, g.console_now),
            can_change=can_change(),
            reason=request.form.get("reason", ""),
            notices=notices,
        )

    @bp.get("/devices/<name>")
    @console_scope("device-admin", "auditor")
    def device(name: str) -> Response:
        return device_page(name)

    def change(name: str, action: str) -> BaseResponse:
        record = devices.get(name)  # 404 page for an unknown device
        try:
            reason = _reason()
            if action == "retire" and request.form.get("confirm") != "yes":
                raise FormError("Tick the box to confirm: retiring cannot be undone.")
            if record.state == "retired":
                raise FormError(f"Device {record.name} is retired for good.", 409)
            devices.set_state(
                record.name,
                _CHANGES[action],
                reason=reason,
                now=g.console_now,
                actor=current_user().actor,
            )
        except FormError as e:
            if action == "retire" and e.status != 409:
                return retire_page(record.name, e.status, e.message)
            return device_page(record.name, e.status, e.message)
        except TrustlaneError as e:
            status = status_of(e)
            if status >= 500:
                raise
            return device_page(record.name, status, e.message)
        return redirect(url_for(".device", name=record.name, done=_DONE_OF[action]), 303)

    @bp.post("/devices/<name>/suspend")
    @console_scope("device-admin")
    def suspend_device(name: str) -> BaseResponse:
        return change(name, "suspend")

    @bp.post("/devices/<name>/resume")
    @console_scope("device-admin")
    def resume_device(name: str) -> BaseResponse:
        return change(name, "resume")

    def retire_page(name: str, status: int = 200, error: str | None = None) -> Response:
        return render_page(
            "console/device_retire.html",
            status=status,
            d=views.device(name, g.console_now),
            reason=request.form.get("reason", ""),
            notices=[("error", error)] if error else [],
        )

    @bp.get("/devices/<name>/retire")
    @console_scope("device-admin")
    def confirm_retire(name: str) -> Response:
        return retire_page(name)

    @bp.post("/devices/<name>/retire")
    @console_scope("device-admin")
    def retire_device(name: str) -> BaseResponse:
        return change(name, "retire")

    return bp
