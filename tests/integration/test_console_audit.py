"""The console's audit page: upload a scan attestation bundle, see every check.

Runs on SQLite and PostgreSQL. A device-admin registers a radiation portal monitor and the
node countersigns one of its scans (as test_scans.py does); the bundle it answers is then
uploaded through the console. Then what an attacker or a careless upload sends: a tampered
bundle, witnesses that are not there, files that are not JSON, duplicate member names, deep
nesting, huge files, bad form values, missing CSRF tokens and scopes that may not audit.
"""

# ruff: noqa: F811 - tests take the fixtures imported below as parameters of the same name

from __future__ import annotations

import copy
import html
import io
import json
import re
from typing import Any

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, token_with
from flask import Flask
from flask.testing import FlaskClient
from test_scans import Port, attestation, port  # noqa: F401 - the port fixture
from werkzeug.test import TestResponse

from credentials.keys import PrivateKey

AUDIT = "/console/audit"


def text(page: TestResponse) -> str:
    """What a reader sees: the page without tags, entities decoded, whitespace collapsed."""
    plain = re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))
    return " ".join(html.unescape(plain).split())


@pytest.fixture
def bundle(port: Port) -> dict[str, Any]:
    device = PrivateKey.generate()
    status, body = port.submit(attestation(device, port.register(device)))
    assert status == 201
    return body


def send(
    client: FlaskClient,
    data: bytes | None,
    *,
    witnesses: str = "0",
    csrf: bool = True,
    name: str = "bundle.json",
) -> TestResponse:
    page = client.get(f"{BASE}{AUDIT}")
    assert page.status_code == 200
    form: dict[str, Any] = {"min_witnesses": witnesses}
    if data is not None:
        form["bundle"] = (io.BytesIO(data), name)
    if csrf:
        form["csrf_token"] = csrf_of(page)
    return client.post(
        f"{BASE}{AUDIT}", data=form, headers=ORIGIN, content_type="multipart/form-data"
    )


def steps(page: TestResponse) -> dict[str, str]:
    """Each step's code and its result cell, as the page shows them."""
    rows = re.findall(
        r'<code>([a-z-]+)</code></td>\s*<td class="step-result">(.*?)</td>',
        page.get_data(as_text=True),
        re.S,
    )
    return {step: re.sub(r"<[^>]+>", "", cell).strip() for step, cell in rows}


@pytest.mark.parametrize("scope", ["officer", "auditor"])
def test_a_good_bundle_verifies_step_by_step(
    app: Flask, port: Port, bundle: dict[str, Any], scope: str
) -> None:
    client = logged_in(app, token_with(port.services, scope))
    page = send(client, json.dumps(bundle).encode())
    assert page.status_code == 200
    assert "The bundle verifies." in text(page)
    shown = steps(page)
    for step in ("bundle", "device-authorization", "device-proof", "node-proof", "inclusion"):
        assert shown[step] == "pass", shown
    assert shown["checkpoint"] == "pass" and shown["witnesses"] == "pass"
    assert shown["consistency"] == "skipped"
    assert shown["authorization-status"] == "pass"


def test_witnesses_that_are_not_there_fail_the_witness_step(
    app: Flask, port: Port, bundle: dict[str, Any]
) -> None:
    client = logged_in(app, token_with(port.services, "officer"))
    page = send(client, json.dumps(bundle).encode(), witnesses="2")
    assert page.status_code == 200
    assert "The bundle does not verify." in text(page)
    assert "Failed: witnesses." in text(page)
    assert steps(page)["witnesses"] == "fail"
    assert '<option value="2" selected>' in page.get_data(as_text=True)


def test_a_tampered_bundle_shows_the_failed_proof(
    app: Flask, port: Port, bundle: dict[str, Any]
) -> None:
    forged = copy.deepcopy(bundle)
    forged["attestation"]["credentialSubject"]["scan"]["result"] = "alarm"
    client = logged_in(app, token_with(port.services, "auditor"))
    page = send(client, json.dumps(forged).encode())
    assert page.status_code == 200
    assert "The bundle does not verify." in text(page)
    shown = steps(page)
    assert shown["device-proof"] == "fail"
    # Not reached: the authorisation's status is checked only for a bundle that passed.
    assert shown["authorization-status"] == "skipped"


def test_a_suspended_device_fails_the_status_check(
    app: Flask, port: Port, bundle: dict[str, Any]
) -> None:
    suspended = port.client.post("/devices/rpm-1/suspend", json={}, headers=port.device_admin)
    assert suspended.status_code == 200, suspended.get_data()
    client = logged_in(app, token_with(port.services, "officer"))
    page = send(client, json.dumps(bundle).encode())
    assert "Every audit step passed, but the device authorisation's status did not." in text(page)
    assert steps(page)["authorization-status"] == "fail"


def test_a_json_object_that_is_no_bundle_fails_the_first_step(app: Flask, port: Port) -> None:
    client = logged_in(app, token_with(port.services, "officer"))
    page = send(client, b'{"type": "nonsense"}')
    assert page.status_code == 200
    assert "The bundle does not verify." in text(page)
    assert steps(page) == {"bundle": "fail", "authorization-status": "skipped"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "not a JSON object this node accepts"),
        (b'{"attestation": {}, "attestation": {}}', "duplicate"),
        (b'{"a":' * 200 + b"1" + b"}" * 200, "not a JSON object this node accepts"),
        (b"[1, 2]", "must be an object"),
        (b"   ", "The file is empty"),
        (b'{"a": "' + b"x" * 300_000 + b'"}', "larger than 256 KiB"),
        (None, "Choose a JSON file"),
    ],
)
def test_unreadable_uploads_are_a_400_page_with_the_reason(
    app: Flask, port: Port, data: bytes | None, message: str
) -> None:
    client = logged_in(app, token_with(port.services, "auditor"))
    page = send(client, data)
    assert page.status_code == 400
    assert page.mimetype == "text/html"
    assert message in text(page)
    assert 'id="result"' not in page.get_data(as_text=True)


def test_a_body_over_the_node_limit_is_a_413_page(app: Flask, port: Port) -> None:
    client = logged_in(app, token_with(port.services, "officer"))
    csrf = csrf_of(client.get(f"{BASE}{AUDIT}"))
    body = (
        (
            f'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
            '--x\r\nContent-Disposition: form-data; name="bundle"; filename="b.json"\r\n\r\n{'
        ).encode()
        + b" " * (2 * 1024 * 1024)
        + b"}\r\n--x--\r\n"
    )
    page = client.post(
        f"{BASE}{AUDIT}",
        data=body,
        headers=ORIGIN,
        content_type="multipart/form-data; boundary=x",
    )
    assert page.status_code == 413
    assert page.mimetype == "text/html"
    assert "Traceback" not in page.get_data(as_text=True)


@pytest.mark.parametrize("witnesses", ["-1", "17", "abc", "", "1e3", "٣"])
def test_bad_witness_counts_are_refused(
    app: Flask, port: Port, bundle: dict[str, Any], witnesses: str
) -> None:
    client = logged_in(app, token_with(port.services, "officer"))
    page = send(client, json.dumps(bundle).encode(), witnesses=witnesses)
    assert page.status_code == 400
    assert "Witnesses required must be a whole number from 0 to 16" in text(page)


def test_a_hostile_file_name_is_escaped(app: Flask, port: Port, bundle: dict[str, Any]) -> None:
    client = logged_in(app, token_with(port.services, "officer"))
    page = send(client, json.dumps(bundle).encode(), name="<script>alert(1)</script>.json")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.get_data(as_text=True)
    assert "Result for <script>alert(1)</script>.json" in text(page)


def test_auditing_needs_a_session_csrf_and_the_scope(
    app: Flask, port: Port, bundle: dict[str, Any]
) -> None:
    data = json.dumps(bundle).encode()
    officer = logged_in(app, token_with(port.services, "officer"))
    missing = send(officer, data, csrf=False)
    assert missing.status_code == 400
    assert "security token" in text(missing)
    for scope in ("issuer", "device-admin", "registry-admin"):
        other = logged_in(app, token_with(port.services, scope))
        assert other.get(f"{BASE}{AUDIT}").status_code == 403
        csrf = csrf_of(other.get(f"{BASE}/console/login"))
        refused = other.post(
            f"{BASE}{AUDIT}",
            data={"csrf_token": csrf, "bundle": (io.BytesIO(data), "b.json")},
            headers=ORIGIN,
            content_type="multipart/form-data",
        )
        assert refused.status_code == 403
        assert "verifies" not in text(refused)
    anonymous = app.test_client()
    assert anonymous.get(f"{BASE}{AUDIT}").status_code == 303
