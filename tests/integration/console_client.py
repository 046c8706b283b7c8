"""Driving the officer console with Flask's test client, as a browser would.

The client talks to ``https://localhost`` (the session cookie is ``Secure``), sends the
``Origin`` a browser sends with a form, and reads each form's CSRF token from the page it
came from, so a test goes through exactly the checks a browser's requests go through.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from node.services.tokens import create_token
from node.wiring import NodeServices

BASE = "https://localhost"
ORIGIN = {"Origin": BASE}
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
_LOGIN_VALUE = re.compile(r'name="login_value" value="([^"]+)"')


def token_with(services: NodeServices, *scopes: str, name: str = "console user") -> str:
    """A new token with ``scopes`` (the token itself, shown once)."""
    _, token = create_token(
        services.db, name=name, scopes=frozenset(scopes), now=datetime.now(UTC), actor="test"
    )
    return token


def browser(app: Flask) -> FlaskClient:
    """A test client that keeps cookies, on the node's HTTPS origin."""
    return app.test_client()


def csrf_of(page: TestResponse) -> str:
    """The CSRF token in a console page's forms."""
    found = _CSRF.search(page.get_data(as_text=True))
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: FlaskClient, token: str, *, next_path: str | None = None) -> TestResponse:
    """Log in through the login form; the answer to the form's POST (not followed)."""
    form_page = client.get(f"{BASE}/console/login")
    found = _LOGIN_VALUE.search(form_page.get_data(as_text=True))
    assert found is not None
    data = {"login_value": found.group(1), "token": token}
    csrf = _CSRF.search(form_page.get_data(as_text=True))
    if csrf is not None:  # logging in again from inside a session
        data["csrf_token"] = csrf.group(1)
    if next_path is not None:
        data["next"] = next_path
    return client.post(f"{BASE}/console/login", data=data, headers=ORIGIN)


def logged_in(app: Flask, token: str) -> FlaskClient:
    """A client with a console session for ``token``."""
    client = browser(app)
    answer = login(client, token)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def submit(client: FlaskClient, page_path: str, action: str, data: dict[str, str]) -> TestResponse:
    """Open ``page_path``, take its CSRF token and POST ``data`` to ``action``."""
    page = client.get(f"{BASE}{page_path}")
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(
        f"{BASE}{action}", data={**data, "csrf_token": csrf_of(page)}, headers=ORIGIN
    )
