"""Issue 13 through the API, SQLite and PostgreSQL: VC DM 2.0 refusals with the reason.

Generic issuance refuses a credential that breaks a rule (400, RFC 9457 problem naming the
code); verification refuses a credential that someone else signed with such a shape (422,
the ``data_model`` check naming the code, no proof work done). Accepted shapes issue and
verify. Fixtures are written for this project from the shapes in the specification.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from credentials.data_integrity import ProofOptions, add_proof
from credentials.jsonld import context_bytes
from credentials.keys import PrivateKey
from openapi_check import assert_matches_openapi

V2 = "https://www.w3.org/ns/credentials/v2"
AEO = "https://ns.trustlane.org/aeo/v1"
# A key outside the federation: a sloppy issuer that signs anything.
OUTSIDER = PrivateKey.from_seed(bytes(range(7, 39)))


def _credential(**members: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [V2],
        "type": ["VerifiableCredential", "BondedWarehouseLicence"],
        "credentialSubject": {"id": "did:web:warehouse.example", "site": "Pier 4"},
    }
    doc.update(members)
    return doc


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


# (members, code) one tampering each; all are refused at issuance and at verification.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "type-vocab-off": (
        {"@context": [V2, {"@vocab": None, "site": "https://v.example/site"}]},
        "INVALID_TYPE",
    ),
    "undefined-term": (
        {
            "@context": [V2, {"@vocab": None}],
            "type": ["VerifiableCredential"],
        },
        "JSONLD_TERM_UNDEFINED",
    ),
    "unknown-context": ({"@context": [V2, "https://evil.example/ctx"]}, "JSONLD_CONTEXT_UNKNOWN"),
    "protected-redefinition": (
        {"@context": [V2, {"VerifiableCredential": "https://evil.example/VC"}]},
        "JSONLD_PROTECTED_TERM",
    ),
    "evidence-without-type": ({"evidence": {"id": "urn:uuid:1"}}, "MISSING_TYPE"),
    "termsOfUse-without-type": ({"termsOfUse": [{"id": "urn:uuid:2"}]}, "MISSING_TYPE"),
    "refreshService-without-type": (
        {"refreshService": {"url": "https://c.example/r"}},
        "MISSING_TYPE",
    ),
    "credentialSchema-without-type": (
        {"credentialSchema": {"id": "https://c.example/s.json"}},
        "MISSING_TYPE",
    ),
    "name-extra-member": (
        {"name": {"@value": "Licence", "@language": "en", "x": 1}},
        "INVALID_LANGUAGE_VALUE",
    ),
    "related-duplicate": (
        {
            "relatedResource": [
                {"id": "https://c.example/a", "digestSRI": _sri(b"a")},
                {"id": "https://c.example/a", "digestSRI": _sri(b"a")},
            ]
        },
        "INVALID_RELATED_RESOURCE",
    ),
    "related-no-digest": (
        {"relatedResource": [{"id": "https://c.example/a"}]},
        "INVALID_RELATED_RESOURCE",
    ),
    "related-digest-mismatch": (
        {"relatedResource": [{"id": AEO, "digestSRI": _sri(b"not the AEO context")}]},
        "DIGEST_MISMATCH",
    ),
}


@pytest.mark.parametrize(("members", "code"), list(REFUSED.values()), ids=list(REFUSED))
def test_issuance_refuses_with_the_reason(
    client: FlaskClient, admin_headers: dict[str, str], members: dict[str, Any], code: str
) -> None:
    response = client.post(
        "/credentials/issue", json={"credential": _credential(**members)}, headers=admin_headers
    )
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code
    assert body["detail"]
    assert_matches_openapi(response, "post", "/credentials/issue")


@pytest.mark.parametrize(("members", "code"), list(REFUSED.values()), ids=list(REFUSED))
def test_verification_refuses_with_the_reason(
    client: FlaskClient, admin_headers: dict[str, str], members: dict[str, Any], code: str
) -> None:
    # Signed elsewhere, without the data model checks (add_proof only signs).
    unsigned = _credential(issuer=OUTSIDER.public_key.did, **members)
    signed = add_proof(
        unsigned,
        OUTSIDER,
        ProofOptions(
            verification_method=OUTSIDER.public_key.verification_method_id,
            proof_purpose="assertionMethod",
            created=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )
    response = client.post(
        "/credentials/verify", json={"verifiableCredential": signed}, headers=admin_headers
    )
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["verified"] is False
    assert body["checks"][0]["name"] == "data_model"
    assert body["checks"][0]["code"] == code
    assert body["errors"][0]["code"] == code
    assert_matches_openapi(response, "post", "/credentials/verify")


@pytest.mark.parametrize(
    "issuer",
    ["https:customs.example", "did:web:", "did:web:customs example", "urn:uuid:", {"name": "x"}],
    ids=["https-without-host", "empty-did", "did-with-space", "urn-without-nss", "no-id"],
)
def test_malformed_issuer_is_named_as_such(
    client: FlaskClient, admin_headers: dict[str, str], issuer: object
) -> None:
    response = client.post(
        "/credentials/issue",
        json={"credential": _credential(issuer=issuer)},
        headers=admin_headers,
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "INVALID_ISSUER"
    assert "URL" in body["detail"] and "this node" not in body["detail"]


def test_accepted_shapes_issue_and_verify(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    credential = _credential(
        **{"@context": [V2, AEO, {"site": "https://vocab.customs.example/site"}]},
        name=[{"@value": "Bonded licence", "@language": "en"}, "Zolllager"],
        description={"@value": "ترخيص", "@language": "ar", "@direction": "rtl"},
        termsOfUse={"type": "TrustFrameworkPolicy", "id": "https://c.example/tou"},
        evidence=[{"type": ["Evidence"], "id": "urn:uuid:3"}],
        credentialSchema={"id": "https://c.example/s.json", "type": "JsonSchema"},
        relatedResource=[
            {"id": AEO, "digestSRI": _sri(context_bytes(AEO))},
            {"id": "https://c.example/logo.png", "digestSRI": _sri(b"logo")},
        ],
    )
    issued = client.post(
        "/credentials/issue", json={"credential": credential}, headers=admin_headers
    )
    assert issued.status_code == 201, issued.get_json()
    vc = issued.get_json()["verifiableCredential"]
    verified = client.post(
        "/credentials/verify", json={"verifiableCredential": vc}, headers=admin_headers
    )
    body = verified.get_json()
    assert body["checks"][0] == {
        "name": "data_model",
        "status": "pass",
        "detail": body["checks"][0]["detail"],
    }
    assert verified.status_code == 200, body


def test_large_js_integer_issues_and_verifies(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    # Issue 13: JavaScript writes this double as plain digits; it signs and verifies here.
    credential = _credential(
        credentialSubject={"id": "did:web:w.example", "seq": 15639868060766604}
    )
    issued = client.post(
        "/credentials/issue", json={"credential": credential}, headers=admin_headers
    )
    assert issued.status_code == 201, issued.get_json()
    vc = issued.get_json()["verifiableCredential"]
    assert vc["credentialSubject"]["seq"] == 15639868060766604
    verified = client.post(
        "/credentials/verify", json={"verifiableCredential": vc}, headers=admin_headers
    )
    assert verified.status_code == 200, verified.get_json()
    lossy = _credential(credentialSubject={"id": "did:web:w.example", "seq": 2**53 + 1})
    refused = client.post("/credentials/issue", json={"credential": lossy}, headers=admin_headers)
    assert refused.status_code == 400
    assert refused.get_json()["code"] == "MALFORMED_JSON"
