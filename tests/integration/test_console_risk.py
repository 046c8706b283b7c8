"""The console's risk pages: the decisions list, one decision explained, the assessment form.

Runs on SQLite and PostgreSQL. Decisions are made by the node's own RiskService (as
``POST /risk/assess`` makes them); the benefit case uses the EU/US federation of
test_risk_api.py, where a recognised AEO credential grants its MRA benefits through a
crosswalk link. Then the abuse: scopes that must not see or assess, forms without CSRF,
garbage uploads and filters, hostile names in a declaration.
"""

# ruff: noqa: F811 - tests take the fixtures imported below as parameters of the same name

from __future__ import annotations

import html
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, token_with
from flask import Flask
from flask.testing import FlaskClient
from test_risk_api import (  # noqa: F401 - fixtures used by name
    BENEFITS,
    EORI,
    MID,
    Federation,
    Port,
    Trader,
    declaration,
    federation,
    us_database_url,
)
from werkzeug.test import TestResponse

from node.app import create_app
from node.console import risk as risk_pages
from node.services.console_risk import explain_decision
from node.services.risk_request import parse_assessment_request
from node.wiring import NodeServices

LIST = "/console/risk/decisions"
ASSESS = "/console/risk/assess"


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


def decide(services: NodeServices, **changes: Any) -> dict[str, Any]:
    """A stored decision for ``declaration(**changes)``, made as the API makes it."""
    request = parse_assessment_request({"declaration": declaration(**changes)})
    record: dict[str, Any] = services.risk.assess(
        request, now=datetime.now(UTC), actor="token:test"
    )
    return record


def text(page: TestResponse) -> str:
    """What a reader sees: the page without tags, entities decoded, whitespace collapsed."""
    plain = re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))
    return " ".join(html.unescape(plain).split())


def upload(
    client: FlaskClient, data: bytes, *, csrf: bool = True, name: str = "request.json"
) -> TestResponse:
    page = client.get(f"{BASE}{ASSESS}")
    assert page.status_code == 200
    form: dict[str, Any] = {"request": (io.BytesIO(data), name)}
    if csrf:
        form["csrf_token"] = csrf_of(page)
    return client.post(
        f"{BASE}{ASSESS}", data=form, headers=ORIGIN, content_type="multipart/form-data"
    )


def stored(services: NodeServices) -> int:
    decisions, _ = services.risk.decisions(limit=100)
    return len(decisions)


def test_the_list_pages_and_filters_by_declaration(
    app: Flask, services: NodeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = logged_in(app, token_with(services, "auditor"))
    empty = client.get(f"{BASE}{LIST}")
    assert empty.status_code == 200
    assert "No decision yet" in text(empty)

    first = decide(services, declarationId="26US000000000001")
    second = decide(services, declarationId="26US000000000002")
    third = decide(services, declarationId="26US000000000002")
    monkeypatch.setattr(risk_pages, "PAGE", 2)
    page = client.get(f"{BASE}{LIST}")
    body = text(page)
    assert page.status_code == 200
    assert third["id"] in body and second["id"] in body and first["id"] not in body
    assert f"/console/risk/decisions/{third['id']}" in page.get_data(as_text=True)
    older = client.get(f"{BASE}{LIST}?cursor={_next_cursor(page.get_data(as_text=True))}")
    assert first["id"] in text(older) and third["id"] not in text(older)
    assert "Older decisions" not in text(older)

    only = text(client.get(f"{BASE}{LIST}?declaration=26US000000000001"))
    assert first["id"] in only and second["id"] not in only
    none = client.get(f"{BASE}{LIST}?declaration=26US000000000099")
    assert none.status_code == 200 and "No decision for declaration 26US000000000099" in text(none)


def _next_cursor(body: str) -> str:
    found = re.search(r'rel="next" href="[^"]*cursor=([0-9]+)"', body)
    assert found is not None, "no link to older decisions"
    return found.group(1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("declaration=%3Cscript%3E", "A declaration id is"),
        ("declaration=" + "A" * 65, "A declaration id is"),
        ("cursor=abc", "That page link is not valid"),
        ("cursor=" + "9" * 40, "That page link is not valid"),
    ],
)
def test_bad_filters_and_cursors_are_a_400_page(
    app: Flask, services: NodeServices, query: str, message: str
) -> None:
    decide(services)
    client = logged_in(app, token_with(services, "officer"))
    page = client.get(f"{BASE}{LIST}?{query}")
    assert page.status_code == 400
    assert message in text(page)
    assert "<script>" not in page.get_data(as_text=True)


def test_the_decision_page_explains_channel_reasons_and_evidence(
    app: Flask, services: NodeServices
) -> None:
    services.risk.add_watch_entry(
        container="CSQU3054383", reason="intelligence", now=datetime.now(UTC), actor="test"
    )
    record = decide(services)
    client = logged_in(app, token_with(services, "auditor"))
    page = client.get(f"{BASE}{LIST}/{record['id']}")
    assert page.status_code == 200
    body = text(page)
    decision = record["decision"]
    # The channel and why: the watch list imposed physical examination.
    assert decision["channel"] == "physical"
    assert "physical (red channel)" in body
    assert "Rules imposed at least physical: watch-list hit: every benefit is withheld" in body
    assert "because of those rules" in body
    # Every reason with the evidence it rests on, resolved.
    assert "WATCH_LIST_HIT" in body
    assert "this node's watch list names container CSQU3054383" in body
    assert "the declaration's /goodsItems/0/hsCode is 8504401100" in body
    assert "the declaration's /consignorCountry is DE" in body
    assert f"policy {decision['policy']['policyId']} {decision['policy']['version']}" in body
    assert f"draw {decision['randomSelection']['draw']}" in body
    assert decision["policy"]["hash"] in body
    assert "No presentation was given: no credential, no benefit." in body
    assert "Watch-list entries matched" in body and "container CSQU3054383" in body


def test_a_recognised_credential_shows_which_benefit_it_granted(
    federation: tuple[Port, Trader, Federation],
) -> None:
    port, trader, fed = federation
    record = port.decided(
        {"declaration": declaration(), "presentation": trader.present(port.challenge())}
    )
    app = create_app(port.services, testing=True)
    client = logged_in(app, token_with(port.services, "officer"))
    body = text(client.get(f"{BASE}{LIST}/{record['id']}"))
    credential = trader.credential["id"]
    for code in BENEFITS:
        assert f"{code} (granted by {credential})" in body
    assert "The presentation verified for consignment" in body
    assert f"{EORI['scheme']} {EORI['value']} is linked to {MID['scheme']} {MID['value']}" in body
    # The issuer is named by its peer name, and the agreement with it listed.
    assert fed.eu.identity.did in body
    (agreement,) = port.services.agreements.list()
    assert f"{agreement.id} ({agreement.state})" in body
    # The stored decision names the agreement that granted the benefits.
    assert f"recognised under agreement {agreement.id}" in body
    assert f"mutual recognition agreement {agreement.id}, in force at the decision" in body


def test_hostile_names_are_escaped(app: Flask, services: NodeServices) -> None:
    hostile = "<script>alert(1)</script>"
    exporter = {"name": hostile, "identifiers": [MID], "country": "DE"}
    record = decide(services, exporter=exporter)
    client = logged_in(app, token_with(services, "officer"))
    for path in (LIST, f"{LIST}/{record['id']}"):
        page = client.get(f"{BASE}{path}").get_data(as_text=True)
        assert hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(
        f"{BASE}{LIST}/{record['id']}"
    ).get_data(as_text=True)


def test_unknown_and_malformed_decision_ids_are_404_pages(
    app: Flask, services: NodeServices
) -> None:
    client = logged_in(app, token_with(services, "officer"))
    for decision_id in ("00000000-0000-4000-8000-000000000000", "x" * 80, "%3Cb%3E"):
        page = client.get(f"{BASE}{LIST}/{decision_id}")
        assert page.status_code == 404, decision_id
        assert page.mimetype == "text/html"
        assert "<b>" not in page.get_data(as_text=True)


def test_scopes_other_than_officer_and_auditor_see_nothing(
    app: Flask, services: NodeServices
) -> None:
    record = decide(services)
    for scope in ("issuer", "device-admin", "registry-admin"):
        client = logged_in(app, token_with(services, scope))
        assert client.get(f"{BASE}{LIST}").status_code == 403
        page = client.get(f"{BASE}{LIST}/{record['id']}")
        assert page.status_code == 403
        assert record["decision"]["declarationId"] not in page.get_data(as_text=True)


def test_an_officer_assesses_an_uploaded_request(app: Flask, services: NodeServices) -> None:
    client = logged_in(app, token_with(services, "officer"))
    body = json.dumps({"declaration": declaration(declarationId="26US000000000042")}).encode()
    answer = upload(client, body)
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert "/console/risk/decisions/" in location and location.endswith("done=assessed")
    page = client.get(f"{BASE}{location}" if location.startswith("/") else location)
    assert page.status_code == 200
    assert "The declaration was assessed" in text(page)
    assert "Decision for declaration 26US000000000042" in text(page)
    (listed,), _ = services.risk.decisions(limit=10)
    assert listed["declarationId"] == "26US000000000042"
    assert listed["assessedBy"].startswith("token:")


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"not json", 400, "not a JSON object this node accepts"),
        (b'{"declaration": {}, "declaration": {}}', 400, "duplicate"),
        (b"[" * 100 + b"]" * 100, 400, "not a JSON object this node accepts"),
        (b"", 400, "The file is empty"),
        (b'{"declaration": {"x": 1}, "extra": 1}', 400, "unknown members"),
        (b'{"' + b"a" * 300_000 + b'": 1}', 400, "larger than 256 KiB"),
    ],
)
def test_bad_uploads_are_refused_with_the_reason_and_store_nothing(
    app: Flask, services: NodeServices, data: bytes, status: int, message: str
) -> None:
    client = logged_in(app, token_with(services, "officer"))
    answer = upload(client, data)
    assert answer.status_code == status
    assert message in text(answer)
    assert stored(services) == 0


def test_a_refused_declaration_lists_every_problem(app: Flask, services: NodeServices) -> None:
    client = logged_in(app, token_with(services, "officer"))
    bad = declaration(consignorCountry="Germany", portOfDischarge="<b>X")
    answer = upload(client, json.dumps({"declaration": bad}).encode())
    assert answer.status_code == 422
    body = text(answer)
    assert "/declaration/consignorCountry" in body
    assert "/declaration/portOfDischarge" in body
    assert "<b>X" not in answer.get_data(as_text=True)
    assert stored(services) == 0


def test_assessing_needs_the_officer_scope_and_the_csrf_token(
    app: Flask, services: NodeServices
) -> None:
    body = json.dumps({"declaration": declaration()}).encode()
    officer = logged_in(app, token_with(services, "officer"))
    answer = upload(officer, body, csrf=False)
    assert answer.status_code == 400
    assert "security token" in text(answer)
    auditor = logged_in(app, token_with(services, "auditor"))
    assert auditor.get(f"{BASE}{ASSESS}").status_code == 403
    csrf = csrf_of(auditor.get(f"{BASE}{LIST}"))
    refused = auditor.post(
        f"{BASE}{ASSESS}",
        data={"csrf_token": csrf, "request": (io.BytesIO(body), "r.json")},
        headers=ORIGIN,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    # From another site, even with a valid session and token: refused.
    foreign = officer.post(
        f"{BASE}{ASSESS}",
        data={"csrf_token": csrf_of(officer.get(f"{BASE}{ASSESS}"))},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert stored(services) == 0


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"decision": [], "declaration": "x", "evidence": {"credentials": [1, "a"]}},
        {"decision": {"reasons": [{"code": 1, "evidence": ["credential:nope", 7, "x:y"]}]}},
        {"decision": {"channel": "physical", "mandatoryChannel": "<b>", "reasons": None}},
    ],
)
def test_a_stored_record_of_an_odd_shape_still_explains(record: dict[str, Any]) -> None:
    # Records come from this node's own table, but an old or damaged one must not break
    # the page: what is missing shows as unknown.
    view = explain_decision(record)
    assert view.channel in ("?", "physical")
    assert view.why[0].startswith("Channel ")
    for reason in view.reasons:
        for line in reason.evidence:
            assert line.text
