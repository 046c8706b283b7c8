"""``GET /credentials/{id}`` does not overlap ``POST /credentials/issue|verify|status``.

The stored-credential rule matches only ids that are URLs (``node/api/routing.py``), so the
VC-API operation paths advertise exactly their own methods in ``OPTIONS`` and in the
``Allow`` of a 405, while ``GET /credentials/{id}`` keeps VC-API's shape for every URL id
(``urn:uuid:...``, and ``https://...`` ids with slashes).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from nodehelpers import aeo_subject
from openapi_check import assert_matches_component_response, assert_matches_openapi

OPERATIONS = ("/credentials/issue", "/credentials/verify", "/credentials/status")


def _allow(response: TestResponse) -> set[str]:
    header = response.headers.get("Allow", "")
    return {m.strip() for m in header.split(",") if m.strip()}


@pytest.mark.parametrize("path", OPERATIONS)
def test_options_on_an_operation_path_advertises_only_post(
    client: FlaskClient, admin_headers: dict[str, str], path: str
) -> None:
    response = client.options(path, headers=admin_headers)
    assert response.status_code == 200
    assert _allow(response) == {"POST", "OPTIONS"}


@pytest.mark.parametrize("path", OPERATIONS)
def test_get_on_an_operation_path_is_405_allowing_only_post(
    client: FlaskClient, admin_headers: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=admin_headers)
    assert response.status_code == 405
    assert _allow(response) == {"POST", "OPTIONS"}
    assert_matches_component_response(response, "MethodNotAllowed")


def test_stored_credentials_keep_the_vc_api_path(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    issued = client.post(
        "/aeo-credentials", json={"credentialSubject": aeo_subject()}, headers=admin_headers
    )
    assert issued.status_code == 201
    credential_id = issued.get_json()["verifiableCredential"]["id"]
    for path in (f"/credentials/{credential_id}", f"/credentials/{quote(credential_id, safe='')}"):
        response = client.get(path, headers=admin_headers)
        assert response.status_code == 200, path
        assert_matches_openapi(response, "get", "/credentials/{credentialId}")
    options = client.options(f"/credentials/{credential_id}", headers=admin_headers)
    assert _allow(options) == {"GET", "HEAD", "OPTIONS"}
    unknown = client.get("/credentials/urn:uuid:00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 401  # a credential path: the token comes first
    unknown = client.get(
        "/credentials/urn:uuid:00000000-0000-4000-8000-000000000000", headers=admin_headers
    )
    assert unknown.status_code == 404
    assert_matches_openapi(unknown, "get", "/credentials/{credentialId}")


@pytest.mark.parametrize("name", ["revoke", "issue-batch", "not%20an%20id"])
def test_a_path_that_is_not_an_id_is_no_route(
    client: FlaskClient, admin_headers: dict[str, str], name: str
) -> None:
    for method in ("GET", "POST"):
        response = client.open(f"/credentials/{name}", method=method, headers=admin_headers)
        assert response.status_code == 404, method
        assert_matches_component_response(response, "NotFound")
