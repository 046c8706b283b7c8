"""A trader's wallet against a real node over HTTPS: receive a credential, then present it.

One ``trustlane node serve`` process (SQLite, TLS from a test CA). The issuer offers the
trader its credential with ``trustlane aeo offer``; ``trustlane wallet receive`` redeems it
as a subprocess (OpenID4VCI: metadata, token, nonce, credential); ``trustlane wallet
present`` asks the same node for a challenge with the officer's token and sends the signed
presentation, which verifies; then an offline presentation carrying a scan attestation
bundle the node countersigned verifies with the bundle checked inside it. A node grants
benefits only for a partner's credentials (recognition under an agreement), so here the
presentation verifies without benefits; the three-node flow with benefits is
test_presentation_nodes.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import trustme
from test_scans import CONTAINERS, SITE, attestation

from credentials.keys import PrivateKey
from nodehelpers import aeo_subject
from nodeproc import CLI_TIMEOUT, TRUSTLANE, NodeProcess, run_cli, sanitized_env

pytestmark = pytest.mark.slow

PASSPHRASE = "a wallet passphrase"  # noqa: S105 - a test passphrase


def wallet(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``trustlane wallet ARGS... --dir DIRECTORY`` with the wallet passphrase set."""
    return subprocess.run(
        [str(TRUSTLANE), "wallet", *args, "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=sanitized_env(TRUSTLANE_WALLET_PASSPHRASE=PASSPHRASE),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_receive_over_https_then_present(tmp_path: Path) -> None:
    with NodeProcess(tmp_path / "eu") as node:
        node.init(None, trustme.CA())
        node.start(workers=1)
        assert node.ca_path is not None
        status, issued = node.post_json(
            "/aeo-credentials",
            {"credentialSubject": aeo_subject()},
            node.admin_token,
        )
        assert status == 201, issued
        source = issued["verifiableCredential"]["id"]

        done = run_cli("aeo", "offer", source, "--data-dir", str(node.data_dir), "--json")
        assert done.returncode == 0, done.stderr
        offer = json.loads(done.stdout)

        home = tmp_path / "wallet"
        done = wallet(home, "init", "--json")
        assert done.returncode == 0, done.stderr
        holder = json.loads(done.stdout)["holder"]
        receive = (
            "receive",
            "--from",
            node.base_url,
            "--code",
            offer["credentialOfferUrl"],
            "--tx-code",
            offer["txCode"],
            "--ca-bundle",
            str(node.ca_path),
            "--json",
        )
        done = wallet(home, *receive)
        assert done.returncode == 0, done.stderr + node.log_tail()
        received = json.loads(done.stdout)

        done = wallet(home, "show", received["id"], "--json")
        credential = json.loads(done.stdout)["verifiableCredential"]
        assert credential["credentialSubject"]["id"] == holder
        assert credential["issuer"] == node.did

        # The code works once.
        done = wallet(home, *receive)
        assert done.returncode == 1
        assert "invalid_grant" in done.stderr and "Traceback" not in done.stderr

        done = wallet(
            home,
            "present",
            "--to",
            node.base_url,
            "--consignment",
            "6GB123456789000-12345",
            "--port",
            "DEHAM",
            "--token",
            node.admin_token,
            "--ca-bundle",
            str(node.ca_path),
            "--out",
            str(tmp_path / "vp.json"),
            "--json",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["verified"] is True, result
        assert result["holder"] == holder
        assert result["benefits"] == []  # its own credential: no recognition, no benefit
        vp = json.loads((tmp_path / "vp.json").read_text())
        assert vp["proof"]["domain"] == node.base_url

        # A scan of the consignment's containers, countersigned by the node (its bundle),
        # carried inside an offline presentation; the officer's client sends it with the
        # declared containers, and the bundle is checked in the presentation.
        device = PrivateKey.generate()
        status, registered = node.post_json(
            "/devices",
            {"name": "rpm-1", "device": device.public_key.did, "modalities": ["rpm"], "site": SITE},
            node.admin_token,
        )
        assert status == 201, registered
        status, bundle = node.post_json(
            "/scans", attestation(device, registered["deviceAuthorization"])
        )
        assert status == 201, bundle
        (tmp_path / "bundle.json").write_text(json.dumps(bundle))
        status, issued = node.post_json(
            "/challenges",
            {"consignment": "6GB123456789000-12345", "port": "DEHAM"},
            node.admin_token,
        )
        assert status == 201, issued
        done = wallet(
            home,
            "present",
            "--consignment",
            issued["consignment"],
            "--port",
            issued["port"],
            f"--challenge={issued['challenge']}",  # it may begin with "-"
            "--domain",
            issued["domain"],
            "--attestation",
            str(tmp_path / "bundle.json"),
            "--out",
            str(tmp_path / "vp-scan.json"),
        )
        assert done.returncode == 0, done.stderr
        status, result = node.post_json(
            "/presentations/verify",
            {
                "verifiablePresentation": json.loads((tmp_path / "vp-scan.json").read_text()),
                "options": {
                    "challenge": issued["challenge"],
                    "consignment": issued["consignment"],
                    "port": issued["port"],
                    "containers": list(CONTAINERS),
                },
            },
            node.admin_token,
        )
        assert status == 200, result
        (scan,) = result["attestationResults"]
        assert scan["verified"] is True and scan["attestation"] == bundle["attestation"]["id"]
        assert node.running, node.log_tail()
