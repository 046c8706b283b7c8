"""The risk decision, audit and plots pages in a real browser against a real node process.

One node (HTTPS, SQLite) is filled through its API as officers and devices would fill it:
two assessments (one declaring a hostile exporter name), a device registered and one of its
scans countersigned. Chromium then opens the decisions list and one decision (what an
officer sees: the channel and the reasons), the plots, and the audit page with the node's
bundle and a tampered copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from browser import console_page, log_in, screenshot
from test_risk_api import declaration
from test_scans import SITE, attestation

from credentials.keys import PrivateKey
from nodeproc import NodeProcess

HOSTILE = "<img src=x onerror=alert(1)>"


def _varied(declaration_id: str, chapter: str, origin: str, loading: str, port: str) -> Any:
    item = {**declaration()["goodsItems"][0], "hsCode": f"{chapter}01000000"}
    return declaration(
        declarationId=declaration_id,
        goodsItems=[item],
        consignorCountry=origin,
        portOfLoading=loading,
        portOfDischarge=port,
    )


class Filled:
    """The running node and what was put in it."""

    def __init__(self, node: NodeProcess, bundle: dict[str, Any]) -> None:
        self.node = node
        self.bundle = bundle


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    tmp = tmp_path_factory.mktemp("console-risk")
    with NodeProcess(tmp / "us", name="US customs") as node:
        node.init(None, trustme.CA())
        node.start(workers=1)
        token = node.admin_token
        device = PrivateKey.generate()
        status, registered = node.post_json(
            "/devices",
            {"name": "rpm-1", "device": device.public_key.did, "modalities": ["rpm"], "site": SITE},
            token,
        )
        assert status == 201, registered
        status, bundle = node.post_json(
            "/scans", attestation(device, registered["deviceAuthorization"])
        )
        assert status == 201, bundle
        exporter = {
            "name": HOSTILE,
            "identifiers": [{"scheme": "MID", "value": "DEBEILOG1234HAM"}],
            "country": "DE",
        }
        requests = [
            # Power supplies from Germany, with the radiation portal's clear scan.
            {
                "declaration": declaration(declarationId="26US000000000007"),
                "attestations": [{"bundle": bundle}],
            },
            {"declaration": declaration(exporter=exporter)},
            # Other goods, origins and ports, so the plots have segments to compare.
            {"declaration": _varied("26US000000000011", "93", "AE", "AEJEA", "USLAX")},
            {"declaration": _varied("26US000000000012", "71", "CN", "CNSHA", "USNYC")},
            {"declaration": _varied("26US000000000013", "39", "JP", "JPTYO", "USLAX")},
        ]
        for body in requests:
            status, decided = node.post_json("/risk/assess", body, token)
            assert status == 201, decided
        yield Filled(node, bundle)


def test_an_officer_reads_decisions_plots_and_audits_a_bundle(
    filled: Filled, tmp_path: Path
) -> None:
    node = filled.node
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(filled.bundle))
    forged = copy.deepcopy(filled.bundle)
    forged["attestation"]["credentialSubject"]["scan"]["result"] = "alarm"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(forged))

    with console_page(tmp_path) as page:
        log_in(page, node.url(""), node.admin_token)
        page.click("nav >> text=Risk decisions")
        assert page.inner_text("h1") == "Risk decisions"
        listed = page.inner_text("#decisions")
        assert "26US000000000007" in listed and "26US000000000001" in listed
        screenshot(page, tmp_path, "risk-decisions")

        page.click("#decisions tbody tr:last-child td:first-child a")
        assert page.inner_text("h1") == "Decision for declaration 26US000000000007"
        verdict = page.inner_text("#verdict")
        assert "channel" in verdict and "The risk score" in verdict
        reasons = page.inner_text("#reasons")
        assert "HS chapter 85 (goods item 1)" in reasons
        assert "the declaration's /goodsItems/0/hsCode is 8504401100" in reasons
        assert "route DEHAM to USNYC" in reasons
        scans = page.inner_text("#scans")
        assert "radiation-portal of CSQU3054383, YMLU3030933: clear" in scans
        assert "proofs verified" in scans and "device authorised" in scans
        assert "No reason names this scan: it changed nothing." in scans
        screenshot(page, tmp_path, "risk-decision")

        # The hostile exporter name is shown as text, never run (the page logs no error).
        page.goto(node.url("/console/risk/decisions?declaration=26US000000000001"))
        page.click("#decisions tbody tr:first-child td:first-child a")
        assert HOSTILE in page.inner_text("#declaration")
        assert page.locator("#declaration img").count() == 0

        page.click("nav >> text=Plots")
        assert "Share of each control channel among the 5 newest" in page.inner_text(
            "#inspection-rates"
        )
        rates = page.inner_text("#inspection-rates")
        assert "without benefits" in rates and "USLAX" in rates
        assert "No partner pinned yet" in page.inner_text("#freshness")
        screenshot(page, tmp_path, "plots")

        page.click("nav >> text=Audit a bundle")
        page.set_input_files("#bundle", str(tampered))
        page.click("main button[type=submit]")
        result = page.inner_text("#result")
        assert "The bundle does not verify." in result and "device-proof" in result
        page.set_input_files("#bundle", str(good))
        page.select_option("#min_witnesses", "0")
        page.click("main button[type=submit]")
        result = page.inner_text("#result")
        assert "The bundle verifies." in result
        assert "The scanning device signed the attestation" in result
        screenshot(page, tmp_path, "audit")
