"""The console's device pages: list, detail, register, suspend, resume, retire.

Runs on SQLite and PostgreSQL (the ``app`` fixture), through the Flask test client as a
browser would (console_client). Each action is tried by the scope that may do it, by one
that may not, without the CSRF token, and with bad or hostile input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, submit, token_with
from flask import Flask
from flask.testing import FlaskClient

from credentials.keys import PrivateKey
from node.wiring import NodeServices


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


@pytest.fixture
def admin(app: Flask, services: NodeServices) -> FlaskClient:
    return logged_in(app, token_with(services, "device-admin"))


def _did() -> str:
    return PrivateKey.generate().public_key.did


def _form(**overrides: str) -> dict[str, str]:
    form = {"name": "rtm-rpm-07", "did": _did(), "modality": "rpm", "site": "NLRTM"}
    form.update(overrides)
    return form


def _register(client: FlaskClient, form: dict[str, str]) -> object:
    return submit(client, "/console/devices/new", "/console/devices", form)


def _text(answer: object) -> str:
    return answer.get_data(as_text=True)  # type: ignore[attr-defined,no-any-return]


def _day(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%d")


def test_register_shows_the_device_and_its_authorisation(
    admin: FlaskClient, services: NodeServices
) -> None:
    did = _did()
    answer = submit(
        admin,
        "/console/devices/new",
        "/console/devices",
        {
            "name": "rtm-rpm-07",
            "did": did,
            "modality": "rpm",
            "site": "NLRTM",
            "valid_until": _day(timedelta(days=200)),
            "calibration_due": _day(timedelta(days=100)),
        },
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/devices/rtm-rpm-07?done=registered")
    page = _text(admin.get(answer.headers["Location"]))
    record = services.devices.get("rtm-rpm-07")
    assert record.did == did and record.state == "active"
    assert "Device registered" in page
    assert did in page and record.authorization_id in page
    assert "(neither revoked nor suspended)" in page
    assert record.calibration_due is not None
    assert record.calibration_due.strftime("%Y-%m-%d") in page
    listing = _text(admin.get(f"{BASE}/console/devices"))
    assert "rtm-rpm-07" in listing and "NLRTM" in listing and "Register a device" in listing


def test_several_modalities_are_kept(admin: FlaskClient, services: NodeServices) -> None:
    page = admin.get(f"{BASE}/console/devices/new")
    answer = admin.post(
        f"{BASE}/console/devices",
        data={
            "name": "xr-1",
            "did": _did(),
            "modality": ["xray", "spectroscopic-rpm"],
            "site": "DEHAM",
            "csrf_token": csrf_of(page),
        },
        headers=ORIGIN,
    )
    assert answer.status_code == 303
    assert services.devices.get("xr-1").modalities == ("xray", "spectroscopic-rpm")


def test_overdue_and_soon_due_calibration_is_highlighted(
    admin: FlaskClient, services: NodeServices
) -> None:
    now = datetime.now(UTC)
    for name, due in (("late", now - timedelta(days=3)), ("soon", now + timedelta(days=10))):
        services.devices.register(
            name=name,
            device=_did(),
            modalities=("xray",),
            site="NLRTM",
            now=now,
            actor="test",
            calibration_due=due,
        )
    services.devices.register(
        name="fine", device=_did(), modalities=("rpm",), site="NLRTM", now=now, actor="test"
    )
    listing = _text(admin.get(f"{BASE}/console/devices"))
    rows = {
        name: next(r for r in listing.split("<tr>") if f">{name}</a>" in r)
        for name in ("late", "soon", "fine")
    }
    assert "due-past" in rows["late"] and "(overdue)" in rows["late"]
    assert "due-soon" in rows["soon"] and "(due soon)" in rows["soon"]
    assert "not set" in rows["fine"]
    assert "due-past" not in rows["fine"] and "due-soon" not in rows["fine"]
    detail = _text(admin.get(f"{BASE}/console/devices/late"))
    assert "overdue: scans are refused" in detail


def test_suspend_and_resume_change_the_state_and_the_status_bit(
    admin: FlaskClient, services: NodeServices
) -> None:
    assert _register(admin, _form()).status_code == 303
    page = "/console/devices/rtm-rpm-07"
    answer = submit(admin, page, f"{page}/suspend", {"reason": "seal broken"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=suspended")
    shown = _text(admin.get(answer.headers["Location"]))
    assert "Device suspended" in shown and "seal broken" in shown
    assert 'id="authorisation-status"><span class="state-suspended">suspended' in shown
    record = services.devices.get("rtm-rpm-07")
    assert record.state == "suspended"
    bits = {e.purpose: e.value for e in services.status.entries(record.authorization_id)}
    assert bits == {"revocation": False, "suspension": True}

    answer = submit(admin, page, f"{page}/resume", {"reason": "seal replaced"})
    assert answer.status_code == 303
    shown = _text(admin.get(answer.headers["Location"]))
    assert "Device resumed" in shown and "(neither revoked nor suspended)" in shown
    assert services.devices.get("rtm-rpm-07").state == "active"


def test_a_state_change_needs_a_reason(admin: FlaskClient, services: NodeServices) -> None:
    assert _register(admin, _form()).status_code == 303
    page = "/console/devices/rtm-rpm-07"
    for reason in ("", "   ", "x" * 501, "bad\x00byte"):
        answer = submit(admin, page, f"{page}/suspend", {"reason": reason})
        assert answer.status_code == 400
        assert "reason" in _text(answer).lower()
    assert services.devices.get("rtm-rpm-07").state == "active"


def test_retire_asks_for_confirmation_and_cannot_be_undone(
    admin: FlaskClient, services: NodeServices
) -> None:
    assert _register(admin, _form()).status_code == 303
    page = "/console/devices/rtm-rpm-07"
    confirm = _text(admin.get(f"{BASE}{page}/retire"))
    assert "cannot be undone" in confirm

    # Without the confirmation box: nothing happens, the page asks again.
    answer = submit(admin, f"{page}/retire", f"{page}/retire", {"reason": "end of life"})
    assert answer.status_code == 400
    assert "Tick the box" in _text(answer) and 'value="end of life"' in _text(answer)
    assert services.devices.get("rtm-rpm-07").state == "active"

    answer = submit(
        admin, f"{page}/retire", f"{page}/retire", {"reason": "end of life", "confirm": "yes"}
    )
    assert answer.status_code == 303
    shown = _text(admin.get(answer.headers["Location"]))
    assert "Device retired" in shown and '<span class="bad">revoked</span>' in shown
    assert "Suspend" not in shown and "Resume" not in shown
    record = services.devices.get("rtm-rpm-07")
    bits = {e.purpose: e.value for e in services.status.entries(record.authorization_id)}
    assert record.state == "retired" and bits["revocation"] is True

    # A retired device stays retired: resume and a second retire are a clear 409.
    for action, data in (
        ("resume", {"reason": "oops"}),
        ("retire", {"reason": "again", "confirm": "yes"}),
    ):
        answer = submit(admin, page, f"{page}/{action}", data)
        assert answer.status_code == 409
        assert "retired for good" in _text(answer)
    assert services.devices.get("rtm-rpm-07").state == "retired"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "required"),
        ({"name": "../etc"}, "device name must be"),
        ({"name": "x" * 65}, "at most 64"),
        ({"did": "did:web:evil.example"}, "must be a did:key"),
        ({"did": "did:key:z6MkNOTAKEY"}, "did:key"),
        ({"did": "did:key:zDnaeWgbpcUat3VPa1GBZhQb3R4rnjuBfq6HhUb7u9VhPqsq"}, "Ed25519"),
        ({"modality": ""}, "at least one modality"),
        ({"modality": "laser"}, "at least one modality"),
        ({"site": "rotterdam"}, "UN/LOCODE"),
        ({"valid_until": "tomorrow"}, "must be a date"),
        ({"valid_until": "2026-02-30"}, "is not a date"),
        ({"valid_until": "2001-01-01"}, "future date"),
        ({"calibration_due": "01/02/2027"}, "must be a date"),
    ],
)
def test_bad_input_shows_the_form_again_with_a_message(
    admin: FlaskClient, services: NodeServices, overrides: dict[str, str], message: str
) -> None:
    answer = _register(admin, _form(**overrides))
    assert answer.status_code == 400
    text = _text(answer)
    assert message in text
    assert 'class="notice error"' in text and "Register a device" in text
    assert services.devices.list() == []


def test_a_duplicate_name_or_key_is_a_conflict_keeping_the_input(
    admin: FlaskClient, services: NodeServices
) -> None:
    did = _did()
    assert _register(admin, _form(did=did)).status_code == 303
    for form in (_form(), _form(name="other", did=did)):
        answer = _register(admin, form)
        assert answer.status_code == 409
        assert "already registered" in _text(answer)
        assert f'value="{form["did"]}"' in _text(answer)
    assert len(services.devices.list()) == 1


def test_hostile_text_is_escaped(admin: FlaskClient, services: NodeServices) -> None:
    assert _register(admin, _form()).status_code == 303
    page = "/console/devices/rtm-rpm-07"
    hostile = "<script>alert(1)</script>"
    assert submit(admin, page, f"{page}/suspend", {"reason": hostile}).status_code == 303
    shown = _text(admin.get(f"{BASE}{page}"))
    assert hostile not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    # A refused form echoes the input escaped too.
    answer = _register(admin, _form(name=hostile))
    assert answer.status_code == 400 and hostile not in _text(answer)


def test_auditor_reads_but_changes_nothing(
    app: Flask, admin: FlaskClient, services: NodeServices
) -> None:
    assert _register(admin, _form()).status_code == 303
    auditor = logged_in(app, token_with(services, "auditor"))
    listing = _text(auditor.get(f"{BASE}/console/devices"))
    assert "rtm-rpm-07" in listing and "Register a device" not in listing
    detail = auditor.get(f"{BASE}/console/devices/rtm-rpm-07")
    assert detail.status_code == 200
    assert "Suspend" not in _text(detail) and "Retire" not in _text(detail)
    assert auditor.get(f"{BASE}/console/devices/new").status_code == 403
    page = "/console/devices/rtm-rpm-07"
    for action in ("suspend", "retire"):
        answer = submit(auditor, page, f"{page}/{action}", {"reason": "x", "confirm": "yes"})
        assert answer.status_code == 403
    answer = submit(auditor, page, "/console/devices", _form(name="sneaky"))
    assert answer.status_code == 403
    assert services.devices.get("rtm-rpm-07").state == "active"
    assert [d.name for d in services.devices.list()] == ["rtm-rpm-07"]


def test_an_officer_cannot_open_the_device_pages(app: Flask, services: NodeServices) -> None:
    officer = logged_in(app, token_with(services, "officer"))
    answer = officer.get(f"{BASE}/console/devices")
    assert answer.status_code == 403 and "device-admin" in _text(answer)
    assert "/console/devices" not in _text(officer.get(f"{BASE}/console/"))


def test_forms_without_the_csrf_token_change_nothing(
    admin: FlaskClient, services: NodeServices
) -> None:
    answer = admin.post(f"{BASE}/console/devices", data=_form(), headers=ORIGIN)
    assert answer.status_code == 400 and "security token" in _text(answer)
    assert services.devices.list() == []
    assert _register(admin, _form()).status_code == 303
    answer = admin.post(
        f"{BASE}/console/devices/rtm-rpm-07/suspend", data={"reason": "x"}, headers=ORIGIN
    )
    assert answer.status_code == 400
    assert services.devices.get("rtm-rpm-07").state == "active"


def test_an_unknown_device_is_a_404_page(admin: FlaskClient) -> None:
    for path in ("/console/devices/nope", "/console/devices/nope/retire"):
        answer = admin.get(f"{BASE}{path}")
        assert answer.status_code == 404
        assert "no device" in _text(answer)
    answer = submit(admin, "/console/devices", "/console/devices/nope/suspend", {"reason": "x"})
    assert answer.status_code == 404
    answer = admin.get(f"{BASE}/console/devices/%3Cscript%3Ealert(1)")
    assert answer.status_code == 404
    assert "<script>" not in _text(answer) and "&lt;script&gt;" in _text(answer)
