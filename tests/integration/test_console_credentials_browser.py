"""The credential, offer and register import pages in a real browser against a real node.

An issuer logs in, issues an AEO credential from the form, finds it in the list as active,
suspends it, lifts the suspension, revokes it (through the confirmation page) and sees it
revoked; imports a small register and reads the report; offers a trader its credential and
sees the codes. One node process (HTTPS, SQLite) for the module; a screenshot of each page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from browser import console_page, log_in, screenshot

from nodeproc import NodeProcess

HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
REGISTER = (
    "id,legalName,identifierScheme,identifierValue,country,authorisationNumber,programme,"
    "level,roles,reassessmentDate\n"
    f"{HOLDER},Nordhafen Spedition GmbH,EORI,DE2001,DE,DEAEOF2001,EU-AEO,AEOF,"
    "exporter;carrier,2029-06-30T00:00:00Z\n"
    f"{HOLDER},Rotterdam Forwarding BV,EORI,NL2002,NL,NLAEOS2002,EU-AEO,AEOS,"
    "freight-forwarder,2029-03-31T00:00:00Z\n"
    f"{HOLDER},,EORI,DE2003,DE,DEAEOF2003,EU-AEO,AEOF,importer,2029-06-30T00:00:00Z\n"
)


@pytest.fixture(scope="module")
def eu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("console-credentials")
    with NodeProcess(tmp / "eu") as node:
        node.init(None, trustme.CA())
        node.start(workers=1)
        yield node


def issuer_token(node: NodeProcess) -> str:
    made = node.cli("token", "create", "--name", "issuing office", "--scope", "issuer", "--json")
    assert made.returncode == 0, made.stderr
    token: str = json.loads(made.stdout)["token"]
    return token


def test_issue_suspend_lift_revoke_import_and_offer(eu: NodeProcess, tmp_path: Path) -> None:
    with console_page(tmp_path) as page:
        log_in(page, eu.url(""), issuer_token(eu))

        # Issue an AEO credential from the form.
        page.click("nav >> text=Credentials")
        page.click("text=Issue an AEO credential")
        assert page.inner_text("h1") == "Issue an AEO credential"
        page.fill("#legalName", "Beispiel Logistik GmbH")
        page.fill("#id", HOLDER)
        page.select_option("#scheme_0", "EORI")
        page.fill("#value_0", "DE123456789012345")
        page.select_option("#scheme_1", "MID")
        page.fill("#value_1", "DEBEILOG1234HAM")
        page.fill("#country", "DE")
        page.fill("#level", "AEOF")
        page.fill("#authorisationNumber", "DEAEOF0000012345")
        page.check("input[name=roles][value=exporter]")
        page.check("input[name=roles][value=importer]")
        page.fill("#reassessmentDate", "2028-06-30")
        page.fill("#issuingAuthority", "Hauptzollamt Hamburg")
        screenshot(page, tmp_path, "credential-issue")
        page.click("text=Issue the credential")
        page.wait_for_url("**/console/credentials/urn:uuid:*")
        assert "The credential was issued. It is active." in page.inner_text("[role=status]")
        assert page.inner_text("#state") == "active"
        subject = page.inner_text("#subject")
        assert "Beispiel Logistik GmbH" in subject and "DE123456789012345" in subject
        assert "exporter, importer" in subject
        screenshot(page, tmp_path, "credential")
        credential_id = page.url.split("/console/credentials/")[1].split("?")[0]

        # In the list, active.
        page.click("nav >> text=Credentials")
        row = page.locator("#credential-list tr", has_text=credential_id)
        assert row.locator("td").last.inner_text() == "active"

        # Suspend, lift, revoke (confirmed).
        row.locator("a").click()
        page.click("text=Suspend")
        assert "The credential is suspended" in page.inner_text("[role=status]")
        assert page.inner_text("#state") == "suspended"
        page.click("text=Lift the suspension")
        assert "The suspension was lifted" in page.inner_text("[role=status]")
        assert page.inner_text("#state") == "active"
        page.click("text=Revoke…")
        assert page.inner_text("h1") == "Revoke this credential?"
        assert "cannot be undone" in page.inner_text("[role=alert]")
        page.click("text=Yes, revoke it for good")
        assert "The credential is revoked, for good." in page.inner_text("[role=status]")
        assert page.inner_text("#state") == "revoked"
        assert page.locator("button", has_text="Suspend").count() == 0

        # Import a small register: two traders issued, one reported.
        page.click("nav >> text=Register import")
        page.set_input_files(
            "#register",
            files=[{"name": "register.csv", "mimeType": "text/csv", "buffer": REGISTER.encode()}],
        )
        page.click("button:has-text('Import')")
        page.wait_for_selector("#summary")
        cells = page.locator("#summary tbody td").all_inner_texts()
        assert cells == ["3", "2", "0", "1"]
        problems = page.inner_text("#problems")
        assert "4" in problems and "legalName" in problems
        screenshot(page, tmp_path, "register-import")

        # Offer one of them its credential: the codes show once.
        page.click("nav >> text=Offers")
        page.fill("#trader", "EORI:DE2001")
        page.click("text=Create the offer")
        assert "Shown once." in page.inner_text("#shown-once")
        assert re.fullmatch(r"[0-9]{6}", page.inner_text("#tx-code"))
        assert page.inner_text("#offer-url").startswith("openid-credential-offer://")
        screenshot(page, tmp_path, "offer")

        # The list: the revoked credential and the two imported ones.
        page.click("nav >> text=Credentials")
        states = page.locator("#credential-list tbody td:last-child").all_inner_texts()
        assert sorted(states) == ["active", "active", "revoked"]
        page.select_option("#state", "revoked")
        page.click("button:has-text('Show')")
        assert page.locator("#credential-list tbody tr").count() == 1
        assert credential_id in page.inner_text("#credential-list")
        page.select_option("#state", "")
        page.click("button:has-text('Show')")
        screenshot(page, tmp_path, "credentials")
