"""The console's offer page: an issuer offers a trader its credential, on both backends.

The codes the page shows must be the real ones (the test redeems them at the token
endpoint's service) and must never show again; then the abuse: unknown, ineligible and
garbage traders, a scope that may not, a form without its CSRF token, hostile values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from console_client import BASE, ORIGIN, logged_in, submit, token_with
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.services.offers import OAuthError
from node.storage import aeo_import_repo
from node.storage.aeo_import_repo import ImportKeyRecord
from node.storage.schema import credential_offers
from node.wiring import NodeServices
from nodehelpers import aeo_subject

PAGE = "/console/offers"


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


@pytest.fixture
def issuer(app: Flask, services: NodeServices) -> FlaskClient:
    return logged_in(app, token_with(services, "issuer"))


def issue(services: NodeServices, **changes: Any) -> str:
    signed = services.issuance.issue_aeo(
        {**aeo_subject(), **changes}, now=datetime.now(UTC), actor="test"
    )
    return str(signed["id"])


def offers_stored(services: NodeServices) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(credential_offers)).scalar_one())


def shown(body: str, element_id: str) -> str:
    found = re.search(rf'<code[^>]* id="{element_id}">([^<]*)</code>', body)
    assert found is not None, f"no {element_id} on the page"
    return found.group(1)


def test_an_offer_shows_working_codes_once(issuer: FlaskClient, services: NodeServices) -> None:
    credential_id = issue(services)
    answer = submit(issuer, PAGE, PAGE, {"trader": credential_id})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200, body
    assert "Shown once." in body
    url = shown(body, "offer-url")
    code = shown(body, "pre-authorized-code")
    pin = shown(body, "tx-code")
    assert url.startswith("openid-credential-offer://?credential_offer=")
    assert re.fullmatch(r"[0-9]{6}", pin)
    assert code in url
    # The codes are the real ones: the wallet's token request with them succeeds, once.
    token, _ = services.offers.exchange(code, pin, now=datetime.now(UTC))
    assert token
    with pytest.raises(OAuthError):
        services.offers.exchange(code, pin, now=datetime.now(UTC))
    # Nothing shows them again: not the form, not the audit log.
    again = issuer.get(f"{BASE}{PAGE}").get_data(as_text=True)
    assert code not in again and pin not in again
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_offer_by_register_key(issuer: FlaskClient, services: NodeServices) -> None:
    credential_id = issue(services)
    with services.db.write() as conn:
        aeo_import_repo.insert_keys(
            conn,
            [ImportKeyRecord("EORI:DE123456789012345", credential_id, "f" * 64, datetime.now(UTC))],
        )
    answer = submit(issuer, PAGE, PAGE, {"trader": "EORI:DE123456789012345"})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Credential offer for EORI:DE123456789012345" in body
    assert credential_id in body
    assert offers_stored(services) == 1


def test_the_credential_page_links_to_a_prefilled_offer(
    issuer: FlaskClient, services: NodeServices
) -> None:
    credential_id = issue(services)
    detail = issuer.get(f"{BASE}/console/credentials/{credential_id}").get_data(as_text=True)
    assert f'href="/console/offers?trader={credential_id}"' in detail
    form = issuer.get(f"{BASE}/console/offers?trader={credential_id}").get_data(as_text=True)
    assert f'value="{credential_id}"' in form


@pytest.mark.parametrize(
    ("trader", "status", "message"),
    [
        ("EORI:DE000000000000000", 404, "no trader EORI:DE000000000000000"),
        ("urn:uuid:00000000-0000-4000-8000-000000000000", 404, "no AEO credential"),
        ("", 400, "register key SCHEME:VALUE"),
        ("two words", 400, "register key SCHEME:VALUE"),
        ("x" * 201, 400, "register key SCHEME:VALUE"),
        ("<script>alert(1)</script>", 404, "no trader &lt;script&gt;"),
        ("EORI:\u00e9\u00e9", 400, "register key SCHEME:VALUE"),
    ],
)
def test_a_trader_that_cannot_be_offered_gets_the_form_with_the_reason(
    issuer: FlaskClient, services: NodeServices, trader: str, status: int, message: str
) -> None:
    answer = submit(issuer, PAGE, PAGE, {"trader": trader})
    body = answer.get_data(as_text=True)
    assert answer.status_code == status, body
    assert message in body
    assert "<script>alert(1)</script>" not in body
    assert 'id="tx-code"' not in body
    assert offers_stored(services) == 0


@pytest.mark.parametrize("purpose", ["revocation", "suspension"])
def test_a_revoked_or_suspended_trader_gets_no_offer(
    issuer: FlaskClient, services: NodeServices, purpose: str
) -> None:
    credential_id = issue(services)
    services.status.set_status(credential_id, purpose, True, now=datetime.now(UTC), actor="test")
    answer = submit(issuer, PAGE, PAGE, {"trader": credential_id})
    assert answer.status_code == 409
    assert "nothing is offered" in answer.get_data(as_text=True)
    assert offers_stored(services) == 0


def test_the_prefilled_trader_is_escaped(issuer: FlaskClient) -> None:
    body = issuer.get(f"{BASE}{PAGE}?trader=%22%3E%3Cscript%3Ealert(1)%3C/script%3E").get_data(
        as_text=True
    )
    assert "<script>alert(1)</script>" not in body
    assert "&#34;&gt;&lt;script&gt;" in body


def test_offers_need_the_issuer_scope_and_the_csrf_token(
    app: Flask, services: NodeServices, issuer: FlaskClient
) -> None:
    credential_id = issue(services)
    for scope in ("officer", "auditor", "registry-admin"):
        other = logged_in(app, token_with(services, scope))
        assert other.get(f"{BASE}{PAGE}").status_code == 403
        refused = submit(other, "/console/", PAGE, {"trader": credential_id})
        assert refused.status_code == 403
    no_csrf = issuer.post(f"{BASE}{PAGE}", data={"trader": credential_id}, headers=ORIGIN)
    assert no_csrf.status_code == 400
    cross_site = issuer.post(
        f"{BASE}{PAGE}", data={"trader": credential_id}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert offers_stored(services) == 0
