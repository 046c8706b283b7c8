"""Scan attestations inside presentations, through the API, on SQLite and PostgreSQL.

One node registers a scanner, countersigns its scans (``POST /scans`` answers bundles) and
issues a trader an AEO credential; the trader's presentation carries the bundles; the
officer verifies it with the consignment's declared containers. Each bundle is checked as
``POST /attestations/verify`` checks it, tied to the consignment, and fails alone. Then the
attacker's moves: a scan of another consignment, a tampered scan, a retired device, a
bundle from a node this port does not trust, an attestation smuggled in as the holder's
credential, nine items, an attestation added after signing, an undefined term, bad options.
Last, ``POST /risk/assess`` weighs the presented scans as scan evidence, each once.
"""

# ruff: noqa: F811 - tests take the fixture imported below as a parameter of the same name

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from test_presentations import Port, port  # noqa: F401 - the fixture
from test_risk_api import declaration
from test_scans import CONTAINERS, attestation

# test_audit's node (did:web:eu.customs.example) is no node this port trusts.
from unit.test_audit import World

from credentials.data_integrity import ProofOptions, add_proof
from credentials.keys import PrivateKey
from credentials.model import PRESENTATION_CONTEXT, SCAN_ATTESTATION_BUNDLES, VC_V2_CONTEXT
from credentials.signing import sign_presentation
from node.services.tokens import create_token
from openapi_check import assert_matches_openapi

SCANNED = CONTAINERS[0]


class Scanner:
    """A scanner registered at the port, and the bundles of its scans."""

    def __init__(self, port: Port, name: str = "rpm-1", modalities: tuple[str, ...] = ("rpm",)):
        _, token = create_token(
            port.services.db,
            name=f"fleet {name}",
            scopes=frozenset({"device-admin"}),
            now=datetime.now(UTC),
            actor="test",
        )
        self.port = port
        self.name = name
        self.headers = {"Authorization": f"Bearer {token}"}
        self.key = PrivateKey.generate()
        registered = port.client.post(
            "/devices",
            json={
                "name": name,
                "device": self.key.public_key.did,
                "modalities": list(modalities),
                "site": "NLRTM",
            },
            headers=self.headers,
        )
        assert registered.status_code == 201, registered.get_data()
        self.authorization = registered.get_json()["deviceAuthorization"]

    def bundle(self, **scan: Any) -> dict[str, Any]:
        submitted = self.port.client.post(
            "/scans", json=attestation(self.key, self.authorization, **scan)
        )
        assert submitted.status_code == 201, submitted.get_data()
        body: dict[str, Any] = submitted.get_json()
        return body


def carrying(
    port: Port,
    issued: dict[str, Any],
    bundles: list[dict[str, Any]],
    *,
    credentials: list[dict[str, Any]] | None = None,
    **members: Any,
) -> dict[str, Any]:
    unsigned: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT, PRESENTATION_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": port.holder.public_key.did,
        "verifiableCredential": credentials or [port.credential],
        SCAN_ATTESTATION_BUNDLES: bundles,
        **members,
    }
    return sign_presentation(
        unsigned,
        port.holder,
        challenge=issued["challenge"],
        domain=issued["domain"],
        created=datetime.now(UTC),
    )


def _attestation_codes(body: dict[str, Any]) -> list[dict[str, str | None]]:
    return [
        {c["name"]: c.get("code") for c in result["checks"]}
        for result in body["attestationResults"]
    ]


def test_a_presented_scan_is_checked_as_attestations_verify_checks_it(port: Port) -> None:
    scanner = Scanner(port)
    bundle = scanner.bundle()
    issued = port.challenge()
    status, body = port.verify(
        carrying(port, issued, [bundle]), issued, containers=list(CONTAINERS)
    )
    assert status == 200, body
    assert body["verified"] is True and body["errors"] == []
    (result,) = body["attestationResults"]
    assert result["verified"] is True
    assert result["attestation"] == bundle["attestation"]["id"]
    assert [c["name"] for c in result["checks"]] == ["consignment", "audit", "authorization"]
    assert SCANNED in result["checks"][0]["detail"]
    # The same audit as POST /attestations/verify, with the same trust.
    alone = port.client.post("/attestations/verify", json={"bundle": bundle}, headers=port.admin)
    assert alone.status_code == 200
    assert result["audit"] == {k: alone.get_json()[k] for k in ("ok", "steps")}
    assert result["authorizationStatus"] == alone.get_json()["authorizationStatus"]
    # The trader's own credential is held to the holder rule as before; the scan is not.
    (credential,) = body["credentialResults"]
    assert credential["verified"] is True
    assert [c["name"] for c in body["presentationResult"]["checks"]][-2:] == ["holder", "challenge"]


def test_scans_of_other_consignments_and_untied_scans_fail_alone(port: Port) -> None:
    scanner = Scanner(port)
    other = scanner.bundle(containers=(CONTAINERS[1],))
    issued = port.challenge()
    vp = carrying(port, issued, [other])
    status, body = port.verify(vp, issued, containers=[SCANNED])
    assert status == 422
    assert _attestation_codes(body) == [
        {"consignment": "ATTESTATION_CONSIGNMENT_MISMATCH", "audit": None, "authorization": None}
    ]
    error = body["errors"][-1]
    assert (error["attestation"], error["code"]) == (0, "ATTESTATION_CONSIGNMENT_MISMATCH")
    assert "another consignment" in error["message"] and CONTAINERS[1] in error["message"]
    # It fails alone: the presentation and its credential verified, so the challenge is spent.
    assert body["presentationResult"]["verified"] is True
    assert body["credentialResults"][0]["verified"] is True
    status, body = port.verify(vp, issued, containers=[SCANNED])
    assert status == 422 and body["presentationResult"]["checks"][-1]["code"] == "CHALLENGE_USED"

    # The officer gave no containers: the scan cannot be tied to the consignment.
    issued = port.challenge()
    status, body = port.verify(carrying(port, issued, [scanner.bundle()]), issued)
    assert status == 422
    assert _attestation_codes(body)[0]["consignment"] == "ATTESTATION_CONSIGNMENT_UNKNOWN"
    # A transport document that differs from the declared one is another consignment too.
    issued = port.challenge()
    status, body = port.verify(
        carrying(port, issued, [scanner.bundle()]),
        issued,
        containers=list(CONTAINERS),
        transportDocument="MSCU000000001",
    )
    assert status == 422
    assert _attestation_codes(body)[0]["consignment"] == "ATTESTATION_CONSIGNMENT_MISMATCH"


def test_tampered_untrusted_and_revoked_attestations_fail_with_the_reason(port: Port) -> None:
    scanner = Scanner(port)
    good = scanner.bundle()
    tampered = copy.deepcopy(scanner.bundle())
    tampered["attestation"]["credentialSubject"]["scan"]["result"] = "alarm"
    foreign = World().bundle()
    issued = port.challenge()
    status, body = port.verify(
        carrying(port, issued, [good, tampered, foreign]),
        issued,
        containers=list(CONTAINERS),
    )
    assert status == 422
    good_codes, tampered_codes, foreign_codes = _attestation_codes(body)
    assert good_codes == {"consignment": None, "audit": None, "authorization": None}
    assert tampered_codes["audit"] == "ATTESTATION_NOT_VERIFIED"
    assert foreign_codes["audit"] == "ATTESTATION_NOT_VERIFIED"
    details = [r["checks"][1]["detail"] for r in body["attestationResults"]]
    assert "device-proof" in details[1]
    assert "not a node in the trust file" in details[2]
    assert [r["verified"] for r in body["attestationResults"]] == [True, False, False]

    # The device is retired: its authorisation is revoked, and its scans no longer count.
    retired = port.client.post(f"/devices/{scanner.name}/retire", json={}, headers=scanner.headers)
    assert retired.status_code == 200
    issued = port.challenge()
    status, body = port.verify(carrying(port, issued, [good]), issued, containers=list(CONTAINERS))
    assert status == 422
    assert _attestation_codes(body)[0]["authorization"] == "REVOKED"
    assert body["credentialResults"][0]["verified"] is True


def test_attacks_on_the_presentation_itself(port: Port) -> None:
    scanner = Scanner(port)
    bundle = scanner.bundle()
    # An attestation smuggled in as if it were a credential issued to the holder.
    issued = port.challenge()
    vp = carrying(port, issued, [bundle], credentials=[port.credential, bundle["attestation"]])
    status, body = port.verify(vp, issued, containers=list(CONTAINERS))
    assert status == 422
    holder = body["presentationResult"]["checks"][2]
    assert (holder["name"], holder["code"]) == ("holder", "HOLDER_MISMATCH")
    assert body["benefits"] == []
    # Nine items: eight bundles and the credential.
    many = [scanner.bundle() for _ in range(8)]
    status, body = port.verify(carrying_unsigned(port, issued, many), issued)
    assert status == 422
    assert body["presentationResult"]["checks"][0]["code"] == "INVALID_PRESENTATION"
    assert "9 items" in body["presentationResult"]["checks"][0]["detail"]
    # An attestation added after the holder signed: the holder's proof fails, nothing spent.
    vp = carrying(port, issued, [bundle])
    vp[SCAN_ATTESTATION_BUNDLES].append(scanner.bundle())
    status, body = port.verify(vp, issued, containers=list(CONTAINERS))
    assert status == 422
    checks = {c["name"]: c.get("code") for c in body["presentationResult"]["checks"]}
    assert checks["proof"] == "PROOF_VERIFICATION_ERROR"
    assert checks["challenge"] == "NOT_RUN"
    # An undefined term that JSON-LD would drop: the data model check names it.
    vp = carrying_unsigned(port, issued, [bundle])
    vp["@context"] = [*vp["@context"], {"@vocab": None}]
    vp["priorityLane"] = True
    status, body = port.verify(vp, issued)
    assert status == 422
    data_model, challenge = body["presentationResult"]["checks"]
    assert (data_model["name"], data_model["code"]) == ("data_model", "JSONLD_TERM_UNDEFINED")
    assert "priorityLane" in data_model["detail"]
    assert challenge["code"] == "NOT_RUN"
    assert body["attestationResults"] == [] and body["credentialResults"] == []
    # Unchanged, the presentation still counts: none of the above spent the challenge.
    status, body = port.verify(
        carrying(port, issued, [bundle]), issued, containers=list(CONTAINERS)
    )
    assert status == 200, body


def carrying_unsigned(
    port: Port, issued: dict[str, Any], bundles: list[dict[str, Any]]
) -> dict[str, Any]:
    """A presentation signed as it would be, built without the wallet's own checks."""
    unsigned: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT, PRESENTATION_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": port.holder.public_key.did,
        "verifiableCredential": [port.credential],
        SCAN_ATTESTATION_BUNDLES: bundles,
    }
    signed: dict[str, Any] = add_proof(
        unsigned,
        port.holder,
        ProofOptions(
            verification_method=port.holder.public_key.verification_method_id,
            proof_purpose="authentication",
            created=datetime.now(UTC),
            challenge=issued["challenge"],
            domain=issued["domain"],
        ),
    )
    return signed


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"containers": "CSQU3054383"}, id="containers-not-a-list"),
        pytest.param({"containers": ["CSQU3054384"]}, id="bad-check-digit"),
        pytest.param({"containers": [7]}, id="container-not-a-string"),
        pytest.param({"transportDocument": "MAEU 1"}, id="bad-transport-document"),
        pytest.param({"transportDocument": None}, id="null-transport-document"),
        pytest.param({"minWitnesses": -1}, id="negative-witnesses"),
        pytest.param({"minWitnesses": True}, id="boolean-witnesses"),
    ],
)
def test_bad_options_are_400_problems(port: Port, options: dict[str, Any]) -> None:
    issued = port.challenge()
    response = port.client.post(
        "/presentations/verify",
        json={
            "verifiablePresentation": port.presentation(issued),
            "options": {
                "challenge": issued["challenge"],
                "consignment": issued["consignment"],
                "port": issued["port"],
                **options,
            },
        },
        headers=port.officer,
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_OPTIONS"
    assert response.mimetype == "application/problem+json"
    assert_matches_openapi(response, "post", "/presentations/verify")


def test_risk_assess_weighs_presented_scans_once(port: Port) -> None:
    scanner = Scanner(port, modalities=("rpm", "xray"))
    clear = scanner.bundle(modality="xray")
    doc = declaration()

    def presentation_for(bundles: list[dict[str, Any]]) -> dict[str, Any]:
        issued = port.challenge(doc["ucr"], doc["portOfDischarge"])
        return {
            "verifiablePresentation": carrying(port, issued, bundles),
            "options": {"challenge": issued["challenge"]},
        }

    def assess(body: dict[str, Any]) -> dict[str, Any]:
        response = port.client.post("/risk/assess", json=body, headers=port.officer)
        assert response.status_code == 201, response.get_data()
        assert_matches_openapi(response, "post", "/risk/assess")
        record: dict[str, Any] = response.get_json()
        return record

    presented = presentation_for([clear])
    record = assess({"declaration": doc, "presentation": presented})
    (scan,) = record["evidence"]["scans"]
    assert scan["attestationId"] == clear["attestation"]["id"]
    assert scan["verified"] and scan["deviceAuthorised"] and scan["recognised"]
    assert "SCAN_CLEAR" in [r["code"] for r in record["decision"]["reasons"]]
    assert record["verification"]["presentation"]["attestations"] == [
        {"attestation": clear["attestation"]["id"], "verified": True}
    ]
    # The same scan inside the presentation and beside it counts once.
    record = assess(
        {
            "declaration": doc,
            "presentation": presentation_for([clear]),
            "attestations": [{"bundle": clear}],
        }
    )
    assert len(record["evidence"]["scans"]) == 1
    assert any("counts once" in n for n in record["verification"]["notes"])
    # A replayed presentation: its scans count for nothing (the credentials neither).
    record = assess({"declaration": doc, "presentation": presented})
    (scan,) = record["evidence"]["scans"]
    assert scan["verified"] is False
    assert any("carrying it did not verify" in n for n in record["verification"]["notes"])
    # A scan of another consignment's container is not weighed as verified.
    stray = scanner.bundle(modality="xray", containers=("MSCU1234566",))
    record = assess({"declaration": doc, "presentation": presentation_for([stray])})
    (scan,) = record["evidence"]["scans"]
    assert scan["verified"] is False
    assert any("ATTESTATION_CONSIGNMENT_MISMATCH" in n for n in record["verification"]["notes"])


def test_risk_assess_asks_presented_scans_for_the_witnesses_the_officer_wants(
    port: Port,
) -> None:
    """``presentation.options.minWitnesses`` applies to the scans the presentation carries
    (as ``attestations[].options.minWitnesses`` does to those given beside it)."""
    scanner = Scanner(port, modalities=("rpm", "xray"))
    clear = scanner.bundle(modality="xray")
    doc = declaration()

    def assess(options: dict[str, Any]) -> Any:
        issued = port.challenge(doc["ucr"], doc["portOfDischarge"])
        body = {
            "declaration": doc,
            "presentation": {
                "verifiablePresentation": carrying(port, issued, [clear]),
                "options": {"challenge": issued["challenge"], **options},
            },
        }
        return port.client.post("/risk/assess", json=body, headers=port.officer)

    # Nobody witnessed this port's checkpoint: asking for one witness leaves the scan unverified.
    response = assess({"minWitnesses": 1})
    assert response.status_code == 201, response.get_data()
    (scan,) = response.get_json()["evidence"]["scans"]
    assert scan["verified"] is False
    assert "SCAN_CLEAR" not in [r["code"] for r in response.get_json()["decision"]["reasons"]]
    response = assess({"minWitnesses": 0})
    (scan,) = response.get_json()["evidence"]["scans"]
    assert scan["verified"] is True
    for bad in (-1, True, "1", 10**6):
        response = assess({"minWitnesses": bad})
        assert response.status_code == 400, bad
        assert response.get_json()["code"] == "INVALID_OPTIONS"
        assert response.mimetype == "application/problem+json"
