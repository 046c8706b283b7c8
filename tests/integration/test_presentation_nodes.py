"""A trader presents its EU credential at a US port: three real nodes over HTTPS.

EU, US and JP run as real processes on loopback (PostgreSQL here; ``trustlane demo``, run by
test_demo.py, walks the same story on SQLite); EU and US have an agreement. The trader's
wallet receives its EU AEO credential through an OpenID4VCI offer (pre-authorised code and
PIN, holder key proven over a nonce), then answers a US challenge for consignment A at USLAX:
US grants the agreement's benefit codes. The same presentation again is refused as a replay;
the presentation for A sent for consignment B is refused; a presentation of the trader's
credential signed by another key is refused; the same presentation shown at JP is refused.
After EU suspends the credential (pushed to US), a fresh presentation gets no benefit; after
EU lifts the suspension it gets them again. A US trader presenting at JP (no agreement) gets
nothing, with the reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from federation3 import RECOGNISED, checks, sign_mra, three_nodes, verify, wait_for
from node.wallet.client import NodeClient
from node.wallet.store import WalletError
from nodehelpers import aeo_subject
from nodeproc import NodeProcess

pytestmark = pytest.mark.slow

CONSIGNMENT = "6GB123456789000-12345"
PORT = "USLAX"


def _present(
    port: NodeProcess,
    holder: PrivateKey,
    vc: dict[str, Any],
    where: str = PORT,
    *,
    signer: PrivateKey | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A challenge for the consignment, and the presentation answering it (signed by the
    holder, or by ``signer`` naming itself as holder)."""
    status, issued = port.post_json(
        "/challenges", {"consignment": CONSIGNMENT, "port": where}, port.admin_token
    )
    assert status == 201, issued
    assert issued["domain"] == port.base_url
    vp = sign_presentation(
        {
            "@context": [VC_V2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "holder": (signer or holder).public_key.did,
            "verifiableCredential": [vc],
        },
        signer or holder,
        challenge=issued["challenge"],
        domain=issued["domain"],
        created=datetime.now(UTC),
    )
    return issued, vp


def _verify(
    port: NodeProcess, vp: dict[str, Any], issued: dict[str, Any], consignment: str | None = None
) -> tuple[int, Any]:
    return port.post_json(
        "/presentations/verify",
        {
            "verifiablePresentation": vp,
            "options": {
                "challenge": issued["challenge"],
                "consignment": consignment or issued["consignment"],
                "port": issued["port"],
                "domain": issued["domain"],
            },
        },
        port.admin_token,
    )


def _receive(eu: NodeProcess, holder: PrivateKey) -> dict[str, Any]:
    """EU offers the trader its credential; the wallet client redeems the offer."""
    status, source = eu.post_json(
        "/aeo-credentials",
        {"credentialSubject": aeo_subject("did:web:beispiel-logistik.example")},
        eu.admin_token,
    )
    assert status == 201, source
    status, offer = eu.post_json(
        "/credential-offers", {"trader": source["verifiableCredential"]["id"]}, eu.admin_token
    )
    assert status == 201, offer
    grant = offer["credentialOffer"]["grants"][
        "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    ]
    assert eu.ca_path is not None
    client = NodeClient(eu.base_url, ca_bundle=eu.ca_path)
    vc = client.receive(
        grant["pre-authorized_code"], offer["txCode"], holder, now=datetime.now(UTC)
    )
    assert vc["credentialSubject"]["id"] == holder.public_key.did
    # The code works once.
    with pytest.raises(WalletError, match="invalid_grant"):
        client.receive(grant["pre-authorized_code"], offer["txCode"], holder, now=datetime.now(UTC))
    return vc


def _set_suspended(eu: NodeProcess, vc: dict[str, Any], suspended: bool) -> None:
    status, change = eu.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {
                "type": "BitstringStatusListEntry",
                "statusPurpose": "suspension",
            },
            "status": suspended,
        },
        eu.admin_token,
    )
    assert status == 200, change


def _codes(checks: list[dict[str, Any]]) -> dict[str, str | None]:
    return {c["name"]: c.get("code") for c in checks}


def test_an_eu_trader_presents_at_a_us_port(tmp_path: Path) -> None:
    with three_nodes(tmp_path, "postgresql") as (nodes, _):
        eu, us, jp = nodes["eu"], nodes["us"], nodes["jp"]
        agreement = sign_mra(eu, us)
        holder = PrivateKey.generate()
        vc = _receive(eu, holder)
        # Let US hold EU's status lists first (a list not held yet answers "unknown").
        status, result = verify(us, vc)
        assert status == 200, result

        issued, vp = _present(us, holder, vc)
        # Sent for consignment B: refused, and the challenge (for A) is not spent by it.
        status, other = _verify(us, vp, issued, consignment="6GB123456789000-99999")
        assert status in (400, 422) and other["benefits"] == [], other
        assert "CHALLENGE_MISMATCH" in {e["code"] for e in other["errors"]}, other

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

        # The trader's credential presented by someone else's key: refused.
        thief = PrivateKey.generate()
        issued, stolen = _present(us, holder, vc, signer=thief)
        status, result = _verify(us, stolen, issued)
        assert status == 422 and result["benefits"] == [], result
        assert _codes(result["presentationResult"]["checks"])["holder"] == "HOLDER_MISMATCH"

        # The same presentation shown at JP (another verifier, with a challenge of its own):
        # refused, it was made for US's challenge and origin.
        status, jp_issued = jp.post_json(
            "/challenges", {"consignment": CONSIGNMENT, "port": "JPTYO"}, jp.admin_token
        )
        assert status == 201
        status, elsewhere = _verify(jp, vp, jp_issued)
        assert status == 422
        assert _codes(elsewhere["presentationResult"]["checks"])["proof"] in (
            "INVALID_CHALLENGE",
            "INVALID_DOMAIN",
        )

        # EU suspends the credential; the push reaches US: no benefit.
        _set_suspended(eu, vc, True)
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
        assert _codes(result["credentialResults"][0]["checks"])["status"] == "SUSPENDED"

        # EU lifts the suspension: the benefits come back.
        _set_suspended(eu, vc, False)
        wait_for(lambda: checks(verify(us, vc)[1])["status"][0] == "pass", 10.0, "the lift at US")
        issued, vp = _present(us, holder, vc)
        status, result = _verify(us, vp, issued)
        assert status == 200 and result["benefits"] == sorted(RECOGNISED), result

        # A US trader at JP: JP has no agreement with US (not even a peer): nothing, with why.
        us_holder = PrivateKey.generate()
        subject = {
            **aeo_subject(us_holder.public_key.did),
            "identifiers": [{"scheme": "MID", "value": "USEXAFRE1234LAX"}],
            "country": "US",
            "authorisationNumber": "CTPAT-0000-4711",
            "programme": "CTPAT",
            "level": "Tier2",
            "roles": ["importer"],
        }
        status, body = us.post_json(
            "/aeo-credentials", {"credentialSubject": subject}, us.admin_token
        )
        assert status == 201, body
        issued, vp = _present(jp, us_holder, body["verifiableCredential"], "JPTYO")
        status, result = _verify(jp, vp, issued)
        assert status == 422 and result["benefits"] == [], result
        reasons = _codes(result["credentialResults"][0]["checks"])
        assert reasons["issuer"] == "ISSUER_UNKNOWN", reasons
        assert "not a peer" in json.dumps(result), result
