"""The console's authorisation matrix, generated from the app's route table.

Every console rule's view states its scopes (``console_scope``); only the stylesheet route
is public without stating them. For each (route, method), logged out and logged in with a
token of every scope:

- a page for logged-in users sends a logged-out browser to the login page (GET) or refuses
  the form (POST, 401);
- a scope the view does not list (nor ``admin``) gets 403; a listed scope gets past
  authorisation (a form with an empty body may well be a 400, never 401 or 403).

A console route added without ``console_scope`` fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from console_client import BASE, ORIGIN, csrf_of, logged_in, token_with
from flask import Flask
from flask.testing import FlaskClient

from node.app import create_app
from node.console import CONSOLE
from node.services.tokens import SCOPES
from node.wiring import NodeServices

SAMPLE_ID = "urn:uuid:3f1f0a2e-1111-4c1a-9c55-5a3ad7e4c001"
#: Served to anyone: the stylesheet (read-only files shipped with the package).
UNSCOPED = frozenset({"console_static.static"})


@pytest.fixture
def app(node: tuple[NodeServices, str]) -> Flask:
    return create_app(node[0], testing=True)


@pytest.fixture
def clients(app: Flask, node: tuple[NodeServices, str]) -> Iterator[dict[str, FlaskClient]]:
    yield {scope: logged_in(app, token_with(node[0], scope)) for scope in sorted(SCOPES)}


def _concrete(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", SAMPLE_ID, rule)


def _post(client: FlaskClient, url: str) -> int:
    page = client.get(f"{BASE}/console/login")
    return client.post(url, data={"csrf_token": csrf_of(page)}, headers=ORIGIN).status_code


def console_problems(app: Flask, clients: dict[str, FlaskClient]) -> list[str]:
    """Every console route that breaks the rule it states (or states none)."""
    problems: list[str] = []
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(CONSOLE)]
    # Logout last: it ends the clients' sessions, and every later form would find none.
    for rule in sorted(rules, key=lambda r: (r.endpoint == "console_auth.logout", r.rule)):
        view = app.view_functions[rule.endpoint]
        scopes = getattr(view, "console_scopes", None)
        if rule.endpoint in UNSCOPED:
            continue
        if scopes is None:
            problems.append(f"{rule.rule} ({rule.endpoint}): no console_scope")
            continue
        url = BASE + _concrete(rule.rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            where = f"{method} {rule.rule}"
            anonymous = app.test_client()
            if method == "GET":
                status = anonymous.get(url).status_code
                expected = {303} if scopes else {200}
            else:
                status = anonymous.post(url, data={}, headers=ORIGIN).status_code
                expected = {401} if scopes else {200, 303, 400, 401}
            if status not in expected:
                problems.append(f"{where}: logged out gave {status}")
            if not scopes:
                continue
            for scope, client in clients.items():
                got = client.get(url).status_code if method == "GET" else _post(client, url)
                allowed = scope == "admin" or scope in scopes
                if allowed and got in (401, 403):
                    problems.append(f"{where}: scope {scope} is stated, got {got}")
                if not allowed and got != 403:
                    problems.append(f"{where}: scope {scope} is not stated, got {got}")
    return problems


def test_every_console_route_is_authorised_as_it_states(
    app: Flask, clients: dict[str, FlaskClient]
) -> None:
    assert len([r for r in app.url_map.iter_rules() if r.endpoint.startswith(CONSOLE)]) >= 4
    problems = console_problems(app, clients)
    assert problems == [], "\n".join(problems)


def test_a_console_route_without_scopes_fails_the_matrix(
    node: tuple[NodeServices, str],
) -> None:
    fresh = create_app(node[0], testing=True)
    fresh.add_url_rule("/console/unstated", "console_extra.unstated", lambda: "x")
    officer = {"officer": logged_in(fresh, token_with(node[0], "officer"))}
    assert console_problems(fresh, officer) == [
        "/console/unstated (console_extra.unstated): no console_scope"
    ]


def test_the_stylesheet_is_the_only_static_file(app: Flask) -> None:
    client = app.test_client()
    css = client.get(f"{BASE}/console/static/console.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"
    assert b"Content-Security-Policy" not in css.data and b"body" in css.data
    css.close()
    for path in ("../app.py", "..%2fapp.py", "%2e%2e/web.py", "templates/console/base.html"):
        assert client.get(f"{BASE}/console/static/{path}").status_code == 404
