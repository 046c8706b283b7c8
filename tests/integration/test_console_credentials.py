"""The console's credential pages: list, detail, issue, suspend/lift/revoke, on both backends.

Each action is tried the way a browser sends it (console_client), then abused: a scope that
may not, a form without its CSRF token, garbage ids and fields, a second revocation, and
hostile subject data that must come out escaped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_client import BASE, ORIGIN, logged_in, submit, token_with
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from credentials.strict_json import loads_object
from node.services.console_credentials import state_of
from node.storage import audit_repo
from node.storage.records import StatusEntryRecord
from node.storage.schema import credentials
from node.wiring import NodeServices
from nodehelpers import aeo_subject

HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
ISSUE = "/console/credentials/issue"
STATUS = "/console/credentials/status"


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


@pytest.fixture
def issuer(app: Flask, services: NodeServices) -> FlaskClient:
    return logged_in(app, token_with(services, "issuer"))


def issue(services: NodeServices, *, ago: int = 0, **changes: Any) -> str:
    """Issue an AEO credential ``ago`` minutes back (issue times have whole seconds)."""
    subject = {**aeo_subject(), **changes}
    now = datetime.now(UTC) - timedelta(minutes=ago)
    signed = services.issuance.issue_aeo(subject, now=now, actor="test")
    return str(signed["id"])


def stored(services: NodeServices) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(credentials)).scalar_one())


def page(client: FlaskClient, path: str) -> tuple[int, str]:
    answer = client.get(f"{BASE}{path}")
    return answer.status_code, answer.get_data(as_text=True)


def detail_path(credential_id: str) -> str:
    return f"/console/credentials/{credential_id}"


def form(**changes: str) -> dict[str, Any]:
    """The issue form as a browser sends it for the example subject."""
    data: dict[str, Any] = {
        "legalName": "Beispiel Logistik GmbH",
        "id": HOLDER,
        "scheme_0": "EORI",
        "value_0": "DE123456789012345",
        "scheme_1": "MID",
        "value_1": "DEBEILOG1234HAM",
        "scheme_2": "EORI",
        "value_2": "",
        "country": "DE",
        "programme": "EU-AEO",
        "level": "AEOF",
        "authorisationNumber": "DEAEOF0000012345",
        "roles": ["exporter", "importer"],
        "reassessmentDate": "2028-06-30",
        "issuingAuthority": "",
        "streetAddress": "",
        "postalCode": "",
        "city": "",
        "addressCountry": "",
        "validFrom": "",
        "validUntil": "",
    }
    data.update(changes)
    return data


def act(client: FlaskClient, credential_id: str, action: str, **extra: str) -> Any:
    return submit(
        client, detail_path(credential_id), STATUS, {"id": credential_id, "action": action, **extra}
    )


def entries(services: NodeServices, credential_id: str) -> dict[str, bool]:
    return {e.purpose: e.value for e in services.status.entries(credential_id)}


# -- the list ----------------------------------------------------------------------------


def test_the_list_shows_credentials_newest_first_with_their_state(
    issuer: FlaskClient, services: NodeServices
) -> None:
    older = issue(services, legalName="Older GmbH", ago=5)
    newer = issue(services, legalName="Newer GmbH")
    services.status.set_status(older, "suspension", True, now=datetime.now(UTC), actor="test")
    status, body = page(issuer, "/console/credentials")
    assert status == 200
    assert body.index(newer) < body.index(older)
    rows = re.findall(r'<td class="state-([a-z]+)">', body.split('id="credential-list"')[1])
    assert rows == ["active", "suspended"]
    # Filter by state.
    _, suspended = page(issuer, "/console/credentials?state=suspended")
    assert older in suspended and newer not in suspended
    _, revoked = page(issuer, "/console/credentials?state=revoked")
    assert older not in revoked and "No credential in the state revoked" in revoked


def test_the_list_pages_with_a_bounded_size(issuer: FlaskClient, services: NodeServices) -> None:
    ids = [issue(services, legalName=f"Trader {i}", ago=i) for i in range(3)]
    _, first = page(issuer, "/console/credentials?size=2")
    assert "Older</a>" in first and "Newer</a>" not in first
    _, second = page(issuer, "/console/credentials?size=2&page=2")
    assert "Newer</a>" in second and "Older</a>" not in second
    shown = [i for i in ids if i in first], [i for i in ids if i in second]
    assert len(shown[0]) == 2 and len(shown[1]) == 1 and not set(shown[0]) & set(shown[1])


@pytest.mark.parametrize(
    "query",
    [
        "state=deleted",
        "state=%3Cscript%3E",
        "page=0",
        "page=-1",
        "page=abc",
        "page=" + "9" * 5000,
        "page=00000001" + "0" * 5000,
        "size=0",
        "size=201",
        "size=1e3",
        "page=%D9%A3",  # an Arabic-Indic digit: isdigit() but not ASCII
    ],
)
def test_a_bad_list_query_gets_a_400_page(issuer: FlaskClient, query: str) -> None:
    status, body = page(issuer, f"/console/credentials?{query}")
    assert status == 400
    assert "<script>" not in body and "Traceback" not in body


def test_officers_see_the_list_without_links_to_subject_data(
    app: Flask, services: NodeServices
) -> None:
    credential_id = issue(services)
    officer = logged_in(app, token_with(services, "officer"))
    status, body = page(officer, "/console/credentials")
    assert status == 200 and credential_id in body
    assert f'href="/console/credentials/{credential_id}"' not in body
    assert "Issue an AEO credential" not in body
    # Subject data is GET /credentials/{id}'s: issuer and auditor only, as in the API.
    assert page(officer, detail_path(credential_id))[0] == 403
    assert (
        page(logged_in(app, token_with(services, "device-admin")), "/console/credentials")[0] == 403
    )


# -- one credential ----------------------------------------------------------------------


def test_the_detail_page_shows_the_subject_and_status_entries(
    app: Flask, services: NodeServices
) -> None:
    credential_id = issue(services, issuingAuthority="Hauptzollamt Hamburg")
    auditor = logged_in(app, token_with(services, "auditor"))
    status, body = page(auditor, detail_path(credential_id))
    assert status == 200
    for text in (
        "Beispiel Logistik GmbH",
        "DE123456789012345",
        "DEBEILOG1234HAM",
        "DEAEOF0000012345",
        "EU-AEO",
        "AEOF",
        "exporter, importer",
        "2028-06-30T00:00:00Z",
        "Hauptzollamt Hamburg",
        "revocation",
        "suspension",
        "/status-lists/",
    ):
        assert text in body, text
    # An auditor reads; only an issuer gets the action buttons.
    assert 'name="action"' not in body


@pytest.mark.parametrize(
    "path",
    [
        "/console/credentials/urn:uuid:00000000-0000-4000-8000-000000000000",
        "/console/credentials/urn:uuid:%0Aevil",
        "/console/credentials/javascript:alert(1)",
        "/console/credentials/x:" + "a" * 5000,
    ],
)
def test_an_unknown_or_garbage_id_gets_a_404_page(issuer: FlaskClient, path: str) -> None:
    status, body = page(issuer, path)
    assert status == 404
    if "%0A" in path:
        # No console route matches an id with a line break: the node's JSON 404.
        assert '"status": 404' in body
    else:
        assert "issued no credential with that id" in body


def test_hostile_subject_data_shows_escaped(issuer: FlaskClient, services: NodeServices) -> None:
    credential_id = issue(
        services, legalName="<script>alert(1)</script>", id="did:evil:x?a'&onload=y"
    )
    for path in (detail_path(credential_id), "/console/credentials"):
        _, body = page(issuer, path)
        assert "<script>alert(1)</script>" not in body
        assert "did:evil:x?a'&onload" not in body
        assert "did:evil:x?a&#39;&amp;onload=y" in body
    detail = page(issuer, detail_path(credential_id))[1]
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; <span" in detail


# -- issuing -----------------------------------------------------------------------------


def test_an_issuer_issues_an_aeo_credential_from_the_form(
    issuer: FlaskClient, services: NodeServices
) -> None:
    answer = submit(
        issuer,
        ISSUE,
        ISSUE,
        form(
            issuingAuthority="HZA Hamburg",
            streetAddress="Kai 1",
            city="Hamburg",
            addressCountry="DE",
            postalCode="20457",
            validUntil="2030-01-31",
        ),
    )
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert "/console/credentials/urn:uuid:" in location and location.endswith("?done=issued")
    credential_id = location.split("/console/credentials/")[1].split("?")[0]
    record = services.issuance.get(credential_id)
    assert record is not None
    document = loads_object(record.document)
    subject = document["credentialSubject"]
    assert isinstance(subject, dict)
    assert subject["legalName"] == "Beispiel Logistik GmbH"
    assert subject["identifiers"] == [
        {"scheme": "EORI", "value": "DE123456789012345"},
        {"scheme": "MID", "value": "DEBEILOG1234HAM"},
    ]
    assert subject["roles"] == ["exporter", "importer"]
    assert subject["reassessmentDate"] == "2028-06-30T00:00:00Z"
    assert subject["address"] == {
        "streetAddress": "Kai 1",
        "postalCode": "20457",
        "city": "Hamburg",
        "country": "DE",
    }
    assert document["validUntil"] == "2030-01-31T00:00:00Z"
    assert entries(services, credential_id) == {"revocation": False, "suspension": False}
    outcome = services.verification.verify(document, now=datetime.now(UTC))
    assert outcome.verified, outcome.to_dict()
    status, body = page(issuer, location.removeprefix(BASE))
    assert status == 200
    assert "The credential was issued. It is active." in body
    with services.db.read() as conn:
        events = [e for e in audit_repo.iter_events(conn) if e.action == "credential.issued"]
    assert events[-1].target == credential_id
    assert events[-1].actor.startswith("token:")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"legalName": ""}, "Legal name"),
        ({"value_0": "de-123"}, "Identifier 1"),
        ({"country": "Germany"}, "Country"),
        ({"level": "AEOX"}, "Level"),
        ({"roles": []}, "Roles"),
        ({"roles": ["pilot"]}, "Roles"),
        ({"reassessmentDate": "2029-02-30"}, "Reassessment date"),
        ({"reassessmentDate": "soon"}, "Reassessment date"),
        ({"id": "not a did"}, "Holder DID"),
        ({"scheme_0": "<b>NOPE</b>"}, "Identifier 1"),
        ({"city": "Hamburg"}, "Address"),
        ({"validFrom": "2030-01-01", "validUntil": "2029-01-01"}, "Validity"),
        ({"validUntil": "yesterday"}, "Validity"),
        ({"legalName": "x" * 5000}, "Legal name"),
    ],
)
def test_bad_issue_forms_are_shown_again_with_the_reason(
    issuer: FlaskClient, services: NodeServices, changes: dict[str, Any], expected: str
) -> None:
    before = stored(services)
    answer = submit(issuer, ISSUE, ISSUE, form(**changes))
    body = answer.get_data(as_text=True)
    assert answer.status_code == 422, body
    assert "The credential was not issued" in body
    assert f"<strong>{expected}" in body
    # The officer keeps what was typed.
    assert 'value="DEAEOF0000012345"' in body
    assert "<b>NOPE</b>" not in body
    assert stored(services) == before


def test_issuing_needs_the_issuer_scope_and_the_csrf_token(
    app: Flask, services: NodeServices, issuer: FlaskClient
) -> None:
    auditor = logged_in(app, token_with(services, "auditor"))
    assert page(auditor, ISSUE)[0] == 403
    page_for_csrf = auditor.get(f"{BASE}/console/credentials")
    assert page_for_csrf.status_code == 200
    forged = auditor.post(f"{BASE}{ISSUE}", data=form(), headers=ORIGIN)
    assert forged.status_code in (400, 403)
    no_csrf = issuer.post(f"{BASE}{ISSUE}", data=form(), headers=ORIGIN)
    assert no_csrf.status_code == 400
    assert "security token" in no_csrf.get_data(as_text=True)
    assert stored(services) == 0


# -- status changes ----------------------------------------------------------------------


def test_suspend_lift_and_revoke_with_confirmation(
    issuer: FlaskClient, services: NodeServices
) -> None:
    credential_id = issue(services)
    answer = act(issuer, credential_id, "suspend")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=suspended")
    assert entries(services, credential_id) == {"revocation": False, "suspension": True}
    body = page(issuer, answer.headers["Location"].removeprefix(BASE))[1]
    assert "The credential is suspended" in body and 'value="lift"' in body

    answer = act(issuer, credential_id, "lift")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=lifted")
    assert entries(services, credential_id) == {"revocation": False, "suspension": False}

    # The first revoke form only asks.
    confirm = act(issuer, credential_id, "revoke")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.get_data(as_text=True)
    assert 'name="confirm" value="yes"' in confirm.get_data(as_text=True)
    assert entries(services, credential_id)["revocation"] is False

    answer = act(issuer, credential_id, "revoke", confirm="yes")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?done=revoked")
    assert entries(services, credential_id)["revocation"] is True
    status, body = page(issuer, answer.headers["Location"].removeprefix(BASE))
    assert status == 200
    assert "The credential is revoked, for good." in body
    assert 'id="state">revoked' in body
    assert 'name="action"' not in body  # nothing left to do
    with services.db.read() as conn:
        actions = [e.action for e in audit_repo.iter_events(conn) if e.target == credential_id]
    assert actions == [
        "credential.issued",
        "status.suspension",
        "status.suspension",
        "status.revocation",
    ]


@pytest.mark.parametrize(
    ("setup", "action", "extra", "message"),
    [
        ("revoked", "revoke", {"confirm": "yes"}, "already revoked"),
        ("revoked", "revoke", {}, "already revoked"),
        ("revoked", "suspend", {}, "cannot be suspended or lifted"),
        ("revoked", "lift", {}, "cannot be suspended or lifted"),
        ("suspended", "suspend", {}, "already suspended"),
        ("active", "lift", {}, "is not suspended"),
    ],
)
def test_a_change_that_cannot_happen_is_a_409_with_a_clear_message(
    issuer: FlaskClient,
    services: NodeServices,
    setup: str,
    action: str,
    extra: dict[str, str],
    message: str,
) -> None:
    credential_id = issue(services)
    now = datetime.now(UTC)
    if setup == "revoked":
        services.status.set_status(credential_id, "revocation", True, now=now, actor="test")
    if setup == "suspended":
        services.status.set_status(credential_id, "suspension", True, now=now, actor="test")
    before = entries(services, credential_id)
    answer = act(issuer, credential_id, action, **extra)
    assert answer.status_code == 409
    assert message in answer.get_data(as_text=True)
    assert entries(services, credential_id) == before


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"action": "delete"}, 400),
        ({"action": ""}, 400),
        ({"action": "suspend", "id": "urn:uuid:00000000-0000-4000-8000-000000000000"}, 404),
        ({"action": "suspend", "id": "not-a-url"}, 404),
        ({"action": "suspend", "id": ""}, 404),
    ],
)
def test_garbage_status_forms_change_nothing(
    issuer: FlaskClient, services: NodeServices, data: dict[str, str], status: int
) -> None:
    credential_id = issue(services)
    answer = submit(issuer, detail_path(credential_id), STATUS, {"id": credential_id, **data})
    assert answer.status_code == status
    assert entries(services, credential_id) == {"revocation": False, "suspension": False}


def test_status_changes_need_the_issuer_scope_and_the_csrf_token(
    app: Flask, services: NodeServices, issuer: FlaskClient
) -> None:
    credential_id = issue(services)
    auditor = logged_in(app, token_with(services, "auditor"))
    refused = submit(
        auditor,
        detail_path(credential_id),
        STATUS,
        {"id": credential_id, "action": "revoke", "confirm": "yes"},
    )
    assert refused.status_code == 403
    no_csrf = issuer.post(
        f"{BASE}{STATUS}",
        data={"id": credential_id, "action": "revoke", "confirm": "yes"},
        headers=ORIGIN,
    )
    assert no_csrf.status_code == 400
    cross_site = issuer.post(
        f"{BASE}{STATUS}",
        data={"id": credential_id, "action": "suspend"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert entries(services, credential_id) == {"revocation": False, "suspension": False}


def test_a_credential_without_status_entries_offers_no_action(
    issuer: FlaskClient, services: NodeServices
) -> None:
    signed = services.issuance.issue(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "credentialSubject": {"id": HOLDER},
        },
        status_purposes=(),
        now=datetime.now(UTC),
        actor="test",
    )
    credential_id = str(signed["id"])
    body = page(issuer, detail_path(credential_id))[1]
    assert "no status entry" in body and 'name="action"' not in body
    answer = act(issuer, credential_id, "suspend")
    assert answer.status_code == 409
    assert "no suspension status entry" in answer.get_data(as_text=True)


def test_state_of_follows_the_list_rule() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)

    def entry(purpose: str, value: bool) -> StatusEntryRecord:
        return StatusEntryRecord("l", purpose, 0, "urn:x", value, now)

    past, future = now - timedelta(days=1), now + timedelta(days=1)
    assert state_of([], None, now) == "active"
    assert state_of([], past, now) == "expired"
    assert state_of([entry("suspension", True)], past, now) == "suspended"
    assert state_of([entry("suspension", True), entry("revocation", True)], future, now) == (
        "revoked"
    )
    assert state_of([entry("revocation", False)], future, now) == "active"
