"""The authorisation matrix, generated from the app's route table.

Every rule the app registers, with each of its methods, must be an operation of
node/openapi.json that states who may call it: ``x-trustlane-scopes`` (a bearer token with
one of those scopes, or ``admin``) or ``security: []`` (public). Each (route, method) is then
called without a token and with a token of every scope:

- protected: no token is a 401 with a ``Bearer`` challenge, a token without a listed scope
  (nor ``admin``) is a 403, and a listed scope or ``admin`` gets past authorisation (neither
  401 nor 403; the empty body may well be a 400);
- public: every caller gets the same status, never 403, and a 401 is never a bearer
  challenge (``POST /federation/events`` and ``POST /federation/agreements`` authenticate
  with an RFC 9421 signature instead).

``OPTIONS`` follows the path's rule (401 without a token on a protected path) and ``HEAD``
answers like ``GET``. A route added without documenting its rule fails
:func:`test_every_route_is_authorised_as_documented`; the table in docs/node.md must list
the same scopes (:func:`test_docs_list_every_route_and_its_scopes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from flask import Flask

from federation_config.settings import NodeSettings
from node.app import create_app
from node.console import CONSOLE
from node.services.tokens import SCOPES, create_token
from node.wiring import NodeServices, init_node
from openapi_check import document

DOCS = Path(__file__).resolve().parents[2] / "docs" / "node.md"
SAMPLE_ID = "urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001"
# A value for each path variable (by name); any other variable gets SAMPLE_ID.
SAMPLES = {"list_id": "revocation-1", "name": "no-such-peer"}
CHECKED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Public operations that take an OAuth access token of their own (not a node token).
OAUTH_BEARER = frozenset({"POST /credential"})


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServices]:
    # Authorisation does not depend on the database: one SQLite node for the module.
    data_dir = tmp_path_factory.mktemp("authz") / "node"
    settings = NodeSettings(
        name="EU customs",
        base_url="http://127.0.0.1:18443",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir.parent / 'node.db'}",
    )
    built, _ = init_node(
        settings,
        {},
        now=datetime.now(UTC),
        keystore_opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
        keystore_memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
    )
    yield built
    built.db.dispose()


@pytest.fixture(scope="module")
def tokens(services: NodeServices) -> dict[str, str]:
    """A token per scope, each holding that scope only."""
    now = datetime.now(UTC)
    return {
        scope: create_token(
            services.db, name=f"only {scope}", scopes=frozenset({scope}), now=now, actor="test"
        )[1]
        for scope in sorted(SCOPES)
    }


def openapi_path(rule: str) -> str:
    """``/credentials/<url:credential_id>`` -> ``/credentials/{credentialId}``."""

    def camel(match: re.Match[str]) -> str:
        first, *rest = match.group(1).split("_")
        return "{" + first + "".join(part.capitalize() for part in rest) + "}"

    return re.sub(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>", camel, rule)


def concrete_path(rule: str) -> str:
    """The rule with a sample value for every variable."""
    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", lambda m: SAMPLES.get(m.group(1), SAMPLE_ID), rule)


def documented_rule(path: str, method: str) -> tuple[str, ...] | None:
    """The scopes an operation accepts; () when public; None when the document has no rule.

    Raises:
        KeyError: The operation is not in the document.
    """
    operation = document()["paths"][path][method.lower()]
    if operation.get("security") == []:
        assert "x-trustlane-scopes" not in operation, f"{method} {path}: public with scopes"
        return ()
    scopes = operation.get("x-trustlane-scopes")
    if not isinstance(scopes, list) or not scopes:
        return None
    return tuple(scopes)


def _call(app: Flask, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return app.test_client().open(path, method=method, **kwargs)


def _bearer_challenge(response: Any) -> bool:
    return response.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def matrix_problems(app: Flask, tokens: dict[str, str]) -> list[str]:
    """Everything in the app's route table that breaks the documented authorisation."""
    problems: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith(CONSOLE):
            continue  # HTML pages with session cookies: test_console_authz.py
        path = openapi_path(rule.rule)
        url = concrete_path(rule.rule)
        methods = sorted(m for m in rule.methods or () if m in CHECKED_METHODS)
        for method in methods:
            where = f"{method} {path}"
            try:
                allowed = documented_rule(path, method)
            except KeyError:
                problems.append(f"{where}: not in openapi.json ({rule.endpoint})")
                continue
            if allowed is None:
                problems.append(f"{where}: neither x-trustlane-scopes nor security: []")
                continue
            anonymous = _call(app, method, url, None)
            answers = {scope: _call(app, method, url, tokens[scope]) for scope in tokens}
            if allowed == ():
                statuses = {anonymous.status_code} | {r.status_code for r in answers.values()}
                if len(statuses) != 1 or 403 in statuses:
                    problems.append(f"{where}: public, but answers depend on the token {statuses}")
                # The OpenID4VCI credential endpoint asks for the access token its own token
                # endpoint issued (RFC 6750), never for a node token.
                oauth_bearer = where in OAUTH_BEARER
                if anonymous.status_code == 401 and _bearer_challenge(anonymous) != oauth_bearer:
                    problems.append(f"{where}: public, but asks for a bearer token")
                continue
            if anonymous.status_code != 401 or not _bearer_challenge(anonymous):
                problems.append(f"{where}: no token gave {anonymous.status_code}, not 401 Bearer")
            for scope, response in answers.items():
                status = response.status_code
                if scope == "admin" or scope in allowed:
                    if status in (401, 403):
                        problems.append(f"{where}: scope {scope} is documented, got {status}")
                elif status != 403 or response.get_json().get("code") != "FORBIDDEN":
                    problems.append(f"{where}: scope {scope} is not documented, got {status}")
        if methods and rule.methods and "OPTIONS" in rule.methods:
            public = all(documented_rule_or_none(path, m) == () for m in methods)
            options = _call(app, "OPTIONS", url, None)
            expected = 200 if public else 401
            if options.status_code != expected:
                problems.append(f"OPTIONS {path}: no token gave {options.status_code}")
        if "GET" in methods and "HEAD" in (rule.methods or ()):
            get, head = (_call(app, m, url, tokens["admin"]) for m in ("GET", "HEAD"))
            if head.status_code != get.status_code:
                problems.append(f"HEAD {path}: {head.status_code}, GET {get.status_code}")
    return problems


def documented_rule_or_none(path: str, method: str) -> tuple[str, ...] | None:
    try:
        return documented_rule(path, method)
    except KeyError:
        return None


def test_every_route_is_authorised_as_documented(
    services: NodeServices, tokens: dict[str, str]
) -> None:
    app = create_app(services, testing=True)
    assert len(list(app.url_map.iter_rules())) > 20
    problems = matrix_problems(app, tokens)
    assert problems == [], "\n".join(problems)


def test_a_route_without_a_documented_rule_fails_the_matrix(
    services: NodeServices, tokens: dict[str, str]
) -> None:
    app = create_app(services, testing=True)
    app.add_url_rule("/undocumented/<thing_id>", "undocumented", lambda thing_id: "x")
    problems = matrix_problems(app, tokens)
    assert problems == ["GET /undocumented/{thingId}: not in openapi.json (undocumented)"]


def test_an_operation_without_scopes_or_public_security_has_no_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operation = document()["paths"]["/metrics"]["get"]
    monkeypatch.delitem(operation, "x-trustlane-scopes")
    assert documented_rule("/metrics", "GET") is None


def test_sample_paths_match_their_rules(services: NodeServices) -> None:
    app = create_app(services, testing=True)
    adapter = app.url_map.bind("127.0.0.1")
    for rule in app.url_map.iter_rules():
        method = next(m for m in sorted(rule.methods or ()) if m in CHECKED_METHODS)
        endpoint, _ = adapter.match(concrete_path(rule.rule), method=method)
        assert endpoint == rule.endpoint, rule.rule


def test_openapi_path_conversion() -> None:
    assert openapi_path("/status-lists/<list_id>") == "/status-lists/{listId}"
    assert openapi_path("/credentials/<url:credential_id>") == "/credentials/{credentialId}"
    assert openapi_path("/f/<path:agreement_id>") == "/f/{agreementId}"


# -- docs/node.md -------------------------------------------------------------------------------

_ROW = re.compile(r"\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| (.+?) \|")


def _docs_table() -> dict[tuple[str, str], str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Tokens and scopes", 1)[1].split("\n## ", 1)[0]
    return {(m.group(2), m.group(1).lower()): m.group(3).strip() for m in _ROW.finditer(section)}


def test_docs_list_every_route_and_its_scopes() -> None:
    table = _docs_table()
    expected = {}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method not in {m.lower() for m in CHECKED_METHODS}:
                continue
            if operation.get("security") == []:
                expected[(path, method)] = "public"
            else:
                scopes = operation["x-trustlane-scopes"]
                expected[(path, method)] = ", ".join(f"`{s}`" for s in scopes)
    documented = {key: value.split(" (", 1)[0] for key, value in table.items()}
    assert documented == expected
