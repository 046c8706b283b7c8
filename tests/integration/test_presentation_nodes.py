"""A trader presents its EU credential at a US port: three real nodes over HTTPS.

EU, US and JP run as real processes on loopback (SQLite and PostgreSQL); EU and US have an
agreement. A trader holding an EU AEO credential (its own did:key) answers a US challenge for
consignment A at USLAX: US grants the agreement's benefit codes. The same presentation again
is refused as a replay. After EU suspends the credential (pushed to US), a fresh presentation
for the same consignment gets no benefit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from federation3 import RECOGNISED, checks, sign_mra, three_nodes, verify, wait_for
from nodehelpers import aeo_subject
from nodeproc import NodeProcess

pytestmark = pytest.mark.slow

CONSIGNMENT = "6GB123456789000-12345"
PORT = "USLAX"


def _present(
    port: NodeProcess, holder: PrivateKey, vc: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A US challenge for the consignment, and the trader's presentation answering it."""
    status, issued = port.post_json(
        "/challenges", {"consignment": CONSIGNMENT, "port": PORT}, port.admin_token
    )
    assert status == 201, issued
    assert issued["domain"] == port.base_url
    vp = sign_presentation(
        {
            "@context": [VC_V2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "holder": holder.public_key.did,
            "verifiableCredential": [vc],
        },
        holder,
        challenge=issued["challenge"],
        domain=issued["domain"],
        created=datetime.now(UTC),
    )
    return issued, vp


def _verify(port: NodeProcess, vp: dict[str, Any], issued: dict[str, Any]) -> tuple[int, Any]:
    return port.post_json(
        "/presentations/verify",
        {
            "verifiablePresentation": vp,
            "options": {
                "challenge": issued["challenge"],
                "consignment": issued["consignment"],
                "port": issued["port"],
                "domain": issued["domain"],
            },
        },
        port.admin_token,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_eu_trader_presents_at_a_us_port(backend: str, tmp_path: Path) -> None:
    with three_nodes(tmp_path, backend) as (nodes, _):
        eu, us = nodes["eu"], nodes["us"]
        agreement = sign_mra(eu, us)
        holder = PrivateKey.generate()
        status, body = eu.post_json(
            "/aeo-credentials",
            {"credentialSubject": aeo_subject(holder.public_key.did)},
            eu.admin_token,
        )
        assert status == 201, body
        vc = body["verifiableCredential"]
        # Let US hold EU's status lists first (a list not held yet answers "unknown").
        status, result = verify(us, vc)
        assert status == 200, result

        issued, vp = _present(us, holder, vc)
        status, result = _verify(us, vp, issued)
        assert status == 200, result
        assert result["benefits"] == sorted(RECOGNISED)
        assert result["holder"] == holder.public_key.did
        (credential,) = result["credentialResults"]
        assert credential["agreement"] == agreement
        assert credential["benefits"] == sorted(RECOGNISED)
        assert (result["consignment"], result["port"]) == (CONSIGNMENT, PORT)

        # Replayed (to US again): refused, no benefit.
        status, replay = _verify(us, vp, issued)
        assert status == 422
        assert replay["benefits"] == []
        assert replay["errors"][0]["code"] == "CHALLENGE_USED"

        # The same presentation shown at JP (another verifier, with a challenge of its own):
        # refused, it was made for US's challenge and origin.
        jp = nodes["jp"]
        status, jp_issued = jp.post_json(
            "/challenges", {"consignment": CONSIGNMENT, "port": "JPTYO"}, jp.admin_token
        )
        assert status == 201
        status, elsewhere = _verify(jp, vp, jp_issued)
        assert status == 422
        assert {c["name"]: c.get("code") for c in elsewhere["presentationResult"]["checks"]}[
            "proof"
        ] in ("INVALID_CHALLENGE", "INVALID_DOMAIN")

        # EU suspends the credential; the push reaches US.
        status, change = eu.post_json(
            "/credentials/status",
            {
                "credentialId": vc["id"],
                "credentialStatus": {
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "suspension",
                },
                "status": True,
            },
            eu.admin_token,
        )
        assert status == 200, change
        wait_for(
            lambda: checks(verify(us, vc)[1])["status"] == ("fail", "SUSPENDED"),
            10.0,
            "the suspension at US",
        )
        issued, vp = _present(us, holder, vc)
        status, result = _verify(us, vp, issued)
        assert status == 422
        assert result["benefits"] == []
        assert result["presentationResult"]["verified"] is True  # the challenge was spent
        assert {c["name"]: c.get("code") for c in result["credentialResults"][0]["checks"]}[
            "status"
        ] == "SUSPENDED"
