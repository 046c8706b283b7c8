"""Issue, verify, revoke and suspend through the API (Flask test client), SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from nodehelpers import aeo_subject


def _issue(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        "/aeo-credentials", json={"credentialSubject": aeo_subject()}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    vc: dict[str, Any] = response.get_json()["verifiableCredential"]
    return vc


def _verify(client: FlaskClient, headers: dict[str, str], vc: dict[str, Any]) -> Any:
    return client.post("/credentials/verify", json={"verifiableCredential": vc}, headers=headers)


def _set(
    client: FlaskClient, headers: dict[str, str], vc: dict[str, Any], purpose: str, status: bool
) -> Any:
    return client.post(
        "/credentials/status",
        json={
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": purpose},
            "status": status,
        },
        headers=headers,
    )


def test_issue_verify_revoke(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue(client, admin_headers)
    assert vc["type"] == ["VerifiableCredential", "AEOCertificate"]
    assert {e["statusPurpose"] for e in vc["credentialStatus"]} == {"revocation", "suspension"}
    ok = _verify(client, admin_headers, vc)
    assert ok.status_code == 200
    assert ok.get_json()["verified"] is True
    assert [c["name"] for c in ok.get_json()["checks"]] == [
        "data_model",
        "proof",
        "issuer",
        "validity",
        "status",
    ]

    assert _set(client, admin_headers, vc, "revocation", True).status_code == 200
    bad = _verify(client, admin_headers, vc)
    assert bad.status_code == 422
    body = bad.get_json()
    assert body["verified"] is False
    assert body["errors"][0]["code"] == "REVOKED"
    # Revocation cannot be lifted.
    lifted = _set(client, admin_headers, vc, "revocation", False)
    assert lifted.status_code == 409
    assert lifted.content_type == "application/problem+json"


def test_suspension_can_be_lifted(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue(client, admin_headers)
    assert _set(client, admin_headers, vc, "suspension", True).status_code == 200
    suspended = _verify(client, admin_headers, vc).get_json()
    assert suspended["errors"][0]["code"] == "SUSPENDED"
    assert _set(client, admin_headers, vc, "suspension", False).status_code == 200
    assert _verify(client, admin_headers, vc).get_json()["verified"] is True


def test_status_list_is_public_signed_and_cached(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue(client, admin_headers)
    url = vc["credentialStatus"][0]["statusListCredential"]
    path = url.split("18443", 1)[1]
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert "max-age" in first.headers["Cache-Control"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    doc = first.get_json()
    assert "BitstringStatusListCredential" in doc["type"]
    assert doc["credentialSubject"]["encodedList"].startswith("u")
    assert doc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    # A change publishes a new version with a new ETag.
    _set(client, admin_headers, vc, "revocation" if "revocation" in path else "suspension", True)
    assert client.get(path).headers["ETag"] != etag
