"""The node's HTTP API keeps to its OpenAPI document (node/openapi.json).

Every endpoint gets a happy-path call whose response is validated against the document, on
SQLite and PostgreSQL; the document itself is checked for well-formedness (no
openapi-spec-validator in the environment, so the structural rules are checked here); every
route the app registers is documented and every documented path exists; and every protected
view states its scopes, which the document repeats.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import create_engine

from credentials.aeo import aeo_subject_schema
from node.app import PUBLIC_ENDPOINTS, create_app
from node.console import CONSOLE
from node.services.tokens import SCOPES
from node.wiring import NodeServices
from nodehelpers import aeo_subject
from openapi_check import (
    assert_matches_component_response,
    assert_matches_openapi,
    document,
    escape_pointer,
    resolve,
)

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "node" / "openapi.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PATH_ITEM_KEYS = HTTP_METHODS | {"summary", "description", "servers", "parameters", "$ref"}
# The OpenID4VCI token and credential endpoints answer refusals as OAuth errors.
OAUTH_PATHS = frozenset({"/token", "/credential"})
V2 = "https://www.w3.org/ns/credentials/v2"
ISSUE_OPTIONS = {"credentialStatus": {"type": "BitstringStatusListEntry"}}


def _credential(**members: Any) -> dict[str, Any]:
    return {
        "@context": [V2],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:subject"},
        **members,
    }


def _issue_aeo(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        "/aeo-credentials", json={"credentialSubject": aeo_subject()}, headers=headers
    )
    assert response.status_code == 201, response.get_data()
    vc: dict[str, Any] = response.get_json()["verifiableCredential"]
    return vc


def _local_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _openapi_template(rule: str) -> str:
    """``/status-lists/<list_id>`` -> ``/status-lists/{listId}``."""

    def camel(match: re.Match[str]) -> str:
        first, *rest = match.group(1).split("_")
        return "{" + first + "".join(part.capitalize() for part in rest) + "}"

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", camel, rule)


def _routes(app: Flask) -> dict[tuple[str, str], str]:
    """(OpenAPI path, method) -> endpoint, for every rule of the API.

    The officer console's HTML pages are not API operations: docs/console.md describes them,
    and test_console_authz.py checks their scopes from the same route table.
    """
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(CONSOLE):
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            routes[(_openapi_template(rule.rule), method.lower())] = rule.endpoint
    return routes


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


# -- the document ---------------------------------------------------------------------------


def _walk(node: Any, pointer: str = "") -> Any:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{escape_pointer(str(key))}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def _exists(pointer: str) -> bool:
    node: Any = document()
    for raw in pointer.lstrip("/").split("/"):
        segment = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return False
    return True


def _schemas_in(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every Schema Object of the document (component schemas and inline ones)."""
    found = [
        (f"/components/schemas/{name}", schema)
        for name, schema in doc["components"]["schemas"].items()
    ]
    for pointer, node in _walk(doc):
        if pointer.startswith("/components/schemas/"):
            continue
        if isinstance(node, dict) and "schema" in node and isinstance(node["schema"], dict):
            found.append((pointer + "/schema", node["schema"]))
    return found


def test_openapi_file_is_what_the_node_serves_and_is_3_1() -> None:
    on_disk = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert on_disk == document()
    assert on_disk["openapi"] == "3.1.0"
    assert on_disk["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert on_disk["info"]["title"] and on_disk["info"]["version"]


def test_every_schema_is_a_valid_2020_12_schema() -> None:
    schemas = _schemas_in(document())
    assert len(schemas) > 30
    for pointer, schema in schemas:
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as e:
            pytest.fail(f"{pointer}: {e}")


def test_every_reference_resolves() -> None:
    refs = [
        (pointer, node["$ref"])
        for pointer, node in _walk(document())
        if isinstance(node, dict) and isinstance(node.get("$ref"), str)
    ]
    assert refs
    for pointer, target in refs:
        assert target.startswith("#/"), f"{pointer}: non-local $ref {target}"
        assert _exists(target[1:]), f"{pointer}: $ref {target} does not resolve"


def test_operations_are_well_formed() -> None:
    doc = document()
    tags = {t["name"] for t in doc["tags"]}
    schemes = set(doc["components"]["securitySchemes"])
    bearer = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        assert set(item) <= PATH_ITEM_KEYS, f"{path}: unknown keys {set(item) - PATH_ITEM_KEYS}"
        templated = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {path}"
            operation_ids.append(operation["operationId"])
            assert operation.get("summary"), where
            assert set(operation.get("tags", [])) <= tags, where
            params = [
                resolve(p, "")[0]
                for p in item.get("parameters", []) + operation.get("parameters", [])
            ]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == templated, f"{where}: path parameters {declared} != {templated}"
            for p in params:
                assert p["in"] in {"path", "query", "header", "cookie"}, where
                assert p["in"] != "path" or p["required"] is True, where
            for requirement in operation.get("security", doc.get("security", [])):
                assert set(requirement) <= schemes, where
            body = operation.get("requestBody")
            if body is not None:
                assert method in {"post", "put", "patch"}, where
                assert body["content"], where
            assert operation["responses"], where
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5][0-9]{2}", status), f"{where}: response key {status}"
                response = resolve(response, "")[0]
                assert response["description"], f"{where} {status}"
                for media in response.get("content", {}):
                    assert re.fullmatch(r"[a-z]+/[a-z0-9.+-]+", media), f"{where}: {media}"
                if int(status) >= 400:
                    problem = "application/problem+json" in response["content"]
                    # C2SP tlog-witness: a 409 names the size held as text/x.tlog.size.
                    witness_size = (path, status) == ("/add-checkpoint", "409")
                    # OAuth endpoints refuse in the OAuth error shape (RFC 6749 §5.2).
                    oauth = path in OAUTH_PATHS and status in ("400", "401")
                    assert problem or status == "422" or witness_size or oauth, f"{where} {status}"
    assert len(operation_ids) == len(set(operation_ids)), "operationId must be unique"
    for name, response in doc["components"]["responses"].items():
        schema = response["content"]["application/problem+json"]["schema"]
        assert schema["allOf"] == [{"$ref": "#/components/schemas/Problem"}], name


def test_embedded_aeo_subject_schema_is_the_bundled_one() -> None:
    embedded = json.dumps(document()["components"]["schemas"]["AEOCertificateSubject"])
    embedded = embedded.replace("#/components/schemas/AEOCertificateSubject/$defs/", "#/$defs/")
    bundled = aeo_subject_schema()
    del bundled["$schema"], bundled["$id"]
    assert json.loads(embedded) == bundled


# -- the routes -----------------------------------------------------------------------------


def test_every_route_is_documented_and_every_documented_operation_exists(app: Flask) -> None:
    routes = set(_routes(app))
    documented = set(_operations())
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "documented operations the app does not have"


def test_openapi_template_conversion() -> None:
    assert _openapi_template("/status-lists/<list_id>") == "/status-lists/{listId}"
    assert _openapi_template("/credentials/<path:credential_id>") == "/credentials/{credentialId}"
    assert _openapi_template("/static/<path:filename>") == "/static/{filename}"


def test_no_static_file_route(
    node: tuple[NodeServices, str],
    admin_headers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Flask's default /static/<path:filename> served cwd/static/ to any token holder.
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "secret.txt").write_text("do not serve", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = create_app(node[0], testing=True)  # built here, so that cwd would be its root
    assert app.static_folder is None
    assert "static" not in app.view_functions
    assert all(not rule.rule.startswith("/static") for rule in app.url_map.iter_rules())
    client = app.test_client()
    for headers in ({}, admin_headers):
        response = client.get("/static/secret.txt", headers=headers)
        assert response.status_code == 404
        assert b"do not serve" not in response.get_data()
        assert_matches_component_response(response, "NotFound")


def test_every_protected_view_checks_its_scopes(app: Flask) -> None:
    protected = {e for e in set(_routes(app).values()) if e not in PUBLIC_ENDPOINTS}
    assert protected, "expected protected endpoints"
    for endpoint in protected:
        scopes = getattr(app.view_functions[endpoint], "trustlane_scopes", None)
        assert scopes, f"{endpoint} is not public but has no @require_scope"
        assert set(scopes) <= SCOPES, f"{endpoint}: unknown scopes {scopes}"
    assert PUBLIC_ENDPOINTS <= set(app.view_functions), "a public endpoint does not exist"


def test_documented_security_matches_the_code(app: Flask) -> None:
    operations = _operations()
    for key, endpoint in _routes(app).items():
        operation = operations[key]
        where = f"{key[1].upper()} {key[0]}"
        if endpoint in PUBLIC_ENDPOINTS:
            assert operation.get("security") == [], f"{where} is public: security must be []"
            assert "x-trustlane-scopes" not in operation, where
            # No bearer challenge; an operation authenticated otherwise (the RFC 9421 signature
            # of POST /federation/events) documents its own 401.
            unauthorized = operation["responses"].get("401")
            assert unauthorized != {"$ref": "#/components/responses/Unauthorized"}, where
            continue
        scopes = list(app.view_functions[endpoint].trustlane_scopes)
        assert operation.get("security", document()["security"]) == [{"bearerAuth": []}], where
        assert operation["x-trustlane-scopes"] == scopes, where
        for scope in scopes:
            assert f"`{scope}`" in operation["description"], f"{where}: scope {scope} not stated"
        assert {"401", "403"} <= set(operation["responses"]), where


# -- happy paths ----------------------------------------------------------------------------


def test_did_document(client: FlaskClient) -> None:
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/.well-known/did.json")


def test_aeo_context(client: FlaskClient) -> None:
    response = client.get("/contexts/aeo/v1")
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/contexts/aeo/v1")


def test_status_list_and_not_modified(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue_aeo(client, admin_headers)
    for entry in vc["credentialStatus"]:
        path = _local_path(entry["statusListCredential"])
        first = client.get(path)
        assert first.status_code == 200
        assert_matches_openapi(first, "get", "/status-lists/{listId}")
        assert first.get_json()["credentialSubject"]["statusPurpose"] == entry["statusPurpose"]
        again = client.get(path, headers={"If-None-Match": f'"x", {first.headers["ETag"]}'})
        assert again.status_code == 304
        assert_matches_openapi(again, "get", "/status-lists/{listId}")


def test_status_list_if_none_match_uses_weak_comparison(
    client: FlaskClient, admin_headers: dict[str, str]
) -> None:
    vc = _issue_aeo(client, admin_headers)
    path = _local_path(vc["credentialStatus"][0]["statusListCredential"])
    etag = client.get(path).headers["ETag"]
    for condition in (f"W/{etag}", "*"):
        response = client.get(path, headers={"If-None-Match": condition})
        assert response.status_code == 304, condition
        assert_matches_openapi(response, "get", "/status-lists/{listId}")


def test_issue_credential(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    plain = client.post(
        "/credentials/issue", json={"credential": _credential()}, headers=admin_headers
    )
    assert plain.status_code == 201
    assert_matches_openapi(plain, "post", "/credentials/issue")
    assert "credentialStatus" not in plain.get_json()["verifiableCredential"]

    both = client.post(
        "/credentials/issue",
        json={"credential": _credential(name="x"), "options": ISSUE_OPTIONS},
        headers=admin_headers,
    )
    assert both.status_code == 201
    assert_matches_openapi(both, "post", "/credentials/issue")
    assert len(both.get_json()["verifiableCredential"]["credentialStatus"]) == 2

    options = {
        "credentialStatus": [{"type": "BitstringStatusListEntry", "statusPurpose": "revocation"}]
    }
    one = client.post(
        "/credentials/issue",
        json={"credential": _credential(), "options": options},
        headers=admin_headers,
    )
    assert one.status_code == 201
    assert_matches_openapi(one, "post", "/credentials/issue")
    assert one.get_json()["verifiableCredential"]["credentialStatus"]["statusPurpose"] == (
        "revocation"
    )

    # The did:key form of the node's current key, signed with the did:key URL.
    did_key = (
        "did:key:"
        + client.get("/.well-known/did.json").get_json()["verificationMethod"][0][
            "publicKeyMultibase"
        ]
    )
    by_key = client.post(
        "/credentials/issue",
        json={"credential": _credential(issuer={"id": did_key, "name": "EU customs"})},
        headers=admin_headers,
    )
    assert by_key.status_code == 201, by_key.get_data()
    assert_matches_openapi(by_key, "post", "/credentials/issue")
    assert by_key.get_json()["verifiableCredential"]["proof"]["verificationMethod"].startswith(
        did_key + "#"
    )


def test_verify_credential(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue_aeo(client, admin_headers)
    ok = client.post(
        "/credentials/verify", json={"verifiableCredential": vc}, headers=admin_headers
    )
    assert ok.status_code == 200
    assert_matches_openapi(ok, "post", "/credentials/verify")

    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["legalName"] = "Someone Else GmbH"
    bad = client.post(
        "/credentials/verify", json={"verifiableCredential": tampered}, headers=admin_headers
    )
    assert bad.status_code == 422
    assert_matches_openapi(bad, "post", "/credentials/verify")

    not_a_credential = client.post(
        "/credentials/verify", json={"verifiableCredential": {}}, headers=admin_headers
    )
    assert not_a_credential.status_code == 422
    assert_matches_openapi(not_a_credential, "post", "/credentials/verify")

    before = client.post(
        "/credentials/verify",
        json={"verifiableCredential": vc, "options": {"at": "2020-01-01T00:00:00Z"}},
        headers=admin_headers,
    )
    assert before.status_code == 422
    assert_matches_openapi(before, "post", "/credentials/verify")


def test_update_status(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue_aeo(client, admin_headers)

    def set_status(purpose: str, status: bool) -> Any:
        response = client.post(
            "/credentials/status",
            json={
                "credentialId": vc["id"],
                "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": purpose},
                "status": status,
            },
            headers=admin_headers,
        )
        assert response.status_code == 200
        assert_matches_openapi(response, "post", "/credentials/status")
        return response.get_json()

    assert set_status("suspension", True)["changed"] is True
    assert set_status("suspension", True)["changed"] is False
    assert set_status("suspension", False)["changed"] is True
    assert set_status("revocation", True)["statusPurpose"] == "revocation"


def test_get_credential(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    vc = _issue_aeo(client, admin_headers)
    response = client.get(f"/credentials/{quote(vc['id'], safe='')}", headers=admin_headers)
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/credentials/{credentialId}")
    body = response.get_json()
    assert body["verifiableCredential"] == vc
    assert [s["status"] for s in body["status"]] == [False, False]

    # An id with "/" in it, and a credential without status entries.
    plain = client.post(
        "/credentials/issue",
        json={"credential": _credential(id="https://customs.example/vc/1")},
        headers=admin_headers,
    )
    assert plain.status_code == 201
    response = client.get("/credentials/https://customs.example/vc/1", headers=admin_headers)
    assert response.status_code == 200
    assert_matches_openapi(response, "get", "/credentials/{credentialId}")
    assert response.get_json()["status"] == []


def test_issue_aeo_credential(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/aeo-credentials",
        json={
            "credentialSubject": aeo_subject(),
            "validFrom": "2026-01-01T00:00:00Z",
            "validUntil": "2029-01-01T00:00:00+01:00",
        },
        headers=admin_headers,
    )
    assert response.status_code == 201
    assert_matches_openapi(response, "post", "/aeo-credentials")
    vc = response.get_json()["verifiableCredential"]
    assert vc["validUntil"] == "2028-12-31T23:00:00Z"


def test_health_liveness_and_openapi(client: FlaskClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert_matches_openapi(health, "get", "/health")
    live = client.get("/health/live")
    assert live.status_code == 200
    assert_matches_openapi(live, "get", "/health/live")
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert_matches_openapi(served, "get", "/openapi.json")
    assert served.get_json() == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def test_database_down_gives_documented_503s(
    client: FlaskClient,
    admin_headers: dict[str, str],
    node: tuple[NodeServices, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = node[0]
    vc = _issue_aeo(client, admin_headers)
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'node.db'}")
    monkeypatch.setattr(services.db, "engine", broken)
    services.identity.forget_cache()
    try:
        health = client.get("/health")
        assert health.status_code == 503
        assert_matches_openapi(health, "get", "/health")
        assert "failing" in health.get_json()
        assert health.get_json()["failing"][0] == "database"
        assert health.get_json()["checks"]["database"]["status"] == "failed"

        did = client.get("/.well-known/did.json")
        assert did.status_code == 503
        assert_matches_openapi(did, "get", "/.well-known/did.json")

        listed = client.get(_local_path(vc["credentialStatus"][0]["statusListCredential"]))
        assert listed.status_code == 503
        assert_matches_openapi(listed, "get", "/status-lists/{listId}")

        fetched = client.get(f"/credentials/{vc['id']}", headers=admin_headers)
        assert fetched.status_code == 503
        assert_matches_openapi(fetched, "get", "/credentials/{credentialId}")
        assert "sqlite" not in fetched.get_data(as_text=True).lower()

        for path in ("/credentials/issue", "/aeo-credentials"):
            body = (
                {"credential": _credential()}
                if path.endswith("issue")
                else {"credentialSubject": aeo_subject()}
            )
            issued = client.post(path, json=body, headers=admin_headers)
            assert issued.status_code == 503
            assert_matches_openapi(issued, "post", path)
    finally:
        broken.dispose()


def test_unknown_path_and_wrong_method_are_documented_problems(client: FlaskClient) -> None:
    assert_matches_component_response(client.get("/no/such/path"), "NotFound")
    wrong = client.delete("/health")
    assert_matches_component_response(wrong, "MethodNotAllowed")
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
