"""The device and agreement pages in a real browser against two real node processes.

EU and US run ``trustlane node serve`` over HTTPS (one throwaway CA), pinned to each other
with ``trustlane registry peer add`` and synced. US's registry administrator registers a
device in the console, suspends and resumes it; EU proposes an agreement with the CLI
(delivered to US over HTTPS), and US reviews and countersigns it in the console, which then
shows it in force; EU's API shows it active too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from browser import console_page, log_in, screenshot

from credentials.keys import PrivateKey
from nodeproc import NodeProcess, run_cli


def _ok(*args: str) -> str:
    done = run_cli(*args)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    return done.stdout


def _key(node: NodeProcess) -> str:
    shown = json.loads(_ok("node", "show", "--data-dir", str(node.data_dir), "--json"))
    return str(shown["keys"][0]["publicKeyMultibase"])


def _pin(node: NodeProcess, peer: NodeProcess, name: str) -> None:
    assert peer.ca_path is not None
    _ok(
        "registry", "peer", "add", "--data-dir", str(node.data_dir), "--name", name,
        "--did", peer.did, "--base-url", peer.base_url, "--key", _key(peer),
        "--ca-bundle", str(peer.ca_path),
    )  # fmt: skip


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    tmp = tmp_path_factory.mktemp("console-registry")
    ca = trustme.CA()
    with NodeProcess(tmp / "eu", "EU customs") as eu, NodeProcess(tmp / "us", "US CBP") as us:
        eu.init(None, ca)
        us.init(None, ca)
        _pin(eu, us, "us")
        _pin(us, eu, "eu")
        eu.start(workers=1)
        us.start(workers=1)
        for node in (eu, us):
            outcomes = json.loads(_ok("registry", "sync", "--data-dir", str(node.data_dir)))
            assert all(o["ok"] for o in outcomes), outcomes
        yield eu, us


def _token(node: NodeProcess, *scopes: str) -> str:
    args = ["node", "token", "create", "--data-dir", str(node.data_dir), "--name", "console"]
    for scope in scopes:
        args += ["--scope", scope]
    return str(json.loads(_ok(*args, "--json"))["token"])


def test_register_suspend_and_resume_a_device(
    nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path
) -> None:
    _, us = nodes
    did = PrivateKey.generate().public_key.did
    with console_page(tmp_path) as page:
        log_in(page, us.url(""), _token(us, "device-admin"))
        page.click("nav >> text=Devices")
        assert "No device registered yet" in page.inner_text("main")
        page.click("text=Register a device")
        page.fill("#name", "usnyc-xr-01")
        page.fill("#did", did)
        page.check("input[name=modality][value=xray]")
        page.fill("#site", "USNYC")
        page.fill("#calibration_due", "2027-01-15")
        page.click("button[type=submit] >> text=Register")
        page.wait_for_url("**/console/devices/usnyc-xr-01?done=registered")
        assert "Device registered" in page.inner_text("[role=status]")
        assert page.inner_text("#state") == "active"
        assert did in page.inner_text("#device")
        assert "neither revoked nor suspended" in page.inner_text("#authorisation-status")

        page.fill("#reason", "tamper seal broken")
        page.click("button:text-is('Suspend')")
        page.wait_for_url("**?done=suspended")
        assert page.inner_text("#state") == "suspended"
        assert "tamper seal broken" in page.inner_text("#device")
        assert page.inner_text("#authorisation-status") == "suspended"

        page.fill("#reason", "seal replaced and inspected")
        page.click("button:text-is('Resume')")
        page.wait_for_url("**?done=resumed")
        assert page.inner_text("#state") == "active"
        assert "Device resumed" in page.inner_text("[role=status]")
        screenshot(page, tmp_path, "device")

        # A second device whose calibration is past due, to show the highlight.
        page.goto(us.url("/console/devices/new"))
        page.fill("#name", "usnyc-rpm-02")
        page.fill("#did", PrivateKey.generate().public_key.did)
        page.check("input[name=modality][value=rpm]")
        page.fill("#site", "USNYC")
        page.fill("#calibration_due", "2026-01-01")
        page.click("button[type=submit] >> text=Register")
        page.wait_for_url("**?done=registered")
        page.click("text=All devices")
        listing = page.inner_text("#devices")
        assert "usnyc-xr-01" in listing and "usnyc-rpm-02" in listing
        assert "2026-01-01 (overdue)" in listing
        screenshot(page, tmp_path, "devices")


def test_review_and_countersign_an_agreement(
    nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path
) -> None:
    eu, us = nodes
    recognitions = [
        {
            "recognisingParty": us.did,
            "issuingParty": eu.did,
            "programmes": [{"programme": "EU-AEO", "levels": ["AEOS", "AEOF"]}],
            "credentialTypes": ["AEOCertificate"],
            "roles": ["exporter", "importer", "manufacturer"],
            "benefits": ["reduced-examination", "priority-processing", "origin-scan-recognised"],
        },
        {
            "recognisingParty": eu.did,
            "issuingParty": us.did,
            "programmes": [{"programme": "CTPAT", "levels": ["Tier2", "Tier3"]}],
            "credentialTypes": ["AEOCertificate"],
            "roles": ["exporter", "importer", "manufacturer"],
            "benefits": ["reduced-examination", "priority-processing"],
        },
    ]
    file = tmp_path / "recognitions.json"
    file.write_text(json.dumps(recognitions), "utf-8")
    proposed = json.loads(
        _ok(
            "registry",
            "mra",
            "propose",
            "--data-dir",
            str(eu.data_dir),
            "--peer",
            "us",
            "--recognitions",
            str(file),
            "--notice-days",
            "90",
            "--json",
        )
    )
    assert proposed["delivered"] is True
    agreement_id = proposed["id"]

    with console_page(tmp_path) as page:
        log_in(page, us.url(""), _token(us, "registry-admin"))
        page.click("nav >> text=Agreements")
        listing = page.inner_text("#agreements")
        assert agreement_id in listing and "pending" in listing and "the peer" in listing
        screenshot(page, tmp_path, "agreements")

        page.click(f"text={agreement_id}")
        assert page.inner_text("#agreement-state") == "pending"
        terms = page.inner_text("main")
        assert f"this node recognises eu ({eu.did})" in terms
        assert "EU-AEO (levels AEOS, AEOF)" in terms
        assert f"yes: scan attestations from the devices of eu ({eu.did}) count" in terms
        signatures = page.inner_text("#signatures")
        assert "yes, verified" in signatures and "not yet" in signatures
        screenshot(page, tmp_path, "agreement")

        page.click("text=Countersign…")
        assert "What you sign" in page.inner_text("main")
        assert agreement_id in page.inner_text("#terms-json")
        page.check("input[name=confirm]")
        screenshot(page, tmp_path, "agreement-countersign")
        page.click("button[type=submit] >> text=Countersign")
        page.wait_for_url("**?done=countersigned")
        assert "countersigned and delivered" in page.inner_text("[role=status]")
        assert page.inner_text("#agreement-state") == "active"
        assert page.inner_text("#in-force") == "in force"
        assert page.inner_text("#signatures").count("yes, verified") == 2

    # EU took the countersignature: active there too.
    status, body, _ = eu.get_json("/mras", eu.admin_token)
    assert status == 200
    [agreement] = [a for a in body["agreements"] if a["id"] == agreement_id]
    assert agreement["state"] == "active"
