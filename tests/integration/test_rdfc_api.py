"""eddsa-rdfc-2022 through ``POST /credentials/verify`` (SQLite and PostgreSQL; issue 13).

The W3C vector's proof verifies at the node (its issuer, an https URL, is not the did:key that
signed, so the issuer check fails); changed documents, an unknown cryptosuite and JSON-LD the
node will not process fail with their codes, as 422 results, never a 500.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from openapi_check import assert_matches_openapi
from support import load_vector

SIGNED = load_vector("eddsa-rdfc-2022", "signedDataInt.json")


def _verify(client: FlaskClient, headers: dict[str, str], vc: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/credentials/verify", json={"verifiableCredential": vc}, headers=headers
    )
    assert_matches_openapi(response, "post", "/credentials/verify")
    assert response.status_code == 422
    body: dict[str, Any] = response.get_json()
    return {c["name"]: (c["status"], c.get("code")) for c in body["checks"]}


def test_w3c_rdfc_vector_proof_passes_through_the_api(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    checks = _verify(client, admin_headers, copy.deepcopy(SIGNED))
    assert checks["proof"] == ("pass", None)
    assert checks["issuer"] == ("fail", "ISSUER_MISMATCH")


def _changed(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["alumniOf"] = "Changed after signing"


def _suite(doc: dict[str, Any]) -> None:
    doc["proof"]["cryptosuite"] = "eddsa-rdfc-2099"


def _context(doc: dict[str, Any]) -> None:
    doc["@context"] = [*doc["@context"], "https://attacker.example/ctx"]


CASES = {
    "changed-after-signing": (_changed, ("fail", "PROOF_VERIFICATION_ERROR")),
    "unknown-cryptosuite": (_suite, ("unknown", "UNSUPPORTED_CRYPTOSUITE")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_rdfc_proofs_fail_closed(
    client: FlaskClient, admin_headers: dict[str, str], case: str
) -> None:
    tamper, expected = CASES[case]
    doc = copy.deepcopy(SIGNED)
    tamper(doc)
    checks = _verify(client, admin_headers, doc)
    assert checks["proof"] == expected


def test_an_unshipped_context_is_refused_not_fetched(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    doc = copy.deepcopy(SIGNED)
    _context(doc)
    checks = _verify(client, admin_headers, doc)
    # Refused by the data model's JSON-LD check, or else by the rdfc proof: never a pass.
    failed = [c for c in checks.values() if c[0] != "pass"]
    assert failed and failed[0][1] == "JSONLD_CONTEXT_UNKNOWN", checks
