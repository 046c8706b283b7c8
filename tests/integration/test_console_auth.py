"""The officer console's login, session, CSRF and headers, tried as an attacker would.

Runs on SQLite and PostgreSQL (the ``app`` fixture). Every console request goes through the
Flask test client on ``https://localhost`` with the headers a browser sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from console_client import BASE, ORIGIN, browser, csrf_of, logged_in, login, submit, token_with
from flask import Flask

from node.console.auth import safe_next
from node.console.web import CONTENT_SECURITY_POLICY, COOKIE
from node.services import console_sessions
from node.services.tokens import revoke_token
from node.storage import audit_repo
from node.wiring import NodeServices


@pytest.fixture
def services(node: tuple[NodeServices, str]) -> NodeServices:
    return node[0]


def _cookie(client: object, name: str) -> str | None:
    cookie = client.get_cookie(name)  # type: ignore[attr-defined]
    return None if cookie is None else str(cookie.value)


def test_login_sets_a_host_only_secure_httponly_strict_cookie(
    app: Flask, services: NodeServices
) -> None:
    client = browser(app)
    answer = login(client, token_with(services, "officer"))
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/")
    set_cookie = [v for v in answer.headers.getlist("Set-Cookie") if v.startswith(COOKIE)]
    assert len(set_cookie) == 1
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie[0].split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in set_cookie[0].lower()
    assert "domain" not in attributes
    page = client.get(f"{BASE}/console/")
    assert page.status_code == 200
    assert "Overview" in page.get_data(as_text=True)


def test_the_token_never_reaches_the_browser(app: Flask, services: NodeServices) -> None:
    token = token_with(services, "officer")
    client = logged_in(app, token)
    page = client.get(f"{BASE}/console/").get_data(as_text=True)
    assert token not in page
    assert token not in (_cookie(client, COOKIE) or "")


def test_a_wrong_token_opens_no_session(app: Flask, services: NodeServices) -> None:
    client = browser(app)
    answer = login(client, "tl_0123456789abcdef_" + "x" * 43)
    assert answer.status_code == 401
    assert "not valid on this node" in answer.get_data(as_text=True)
    assert _cookie(client, COOKIE) is None
    assert client.get(f"{BASE}/console/").status_code == 303


@pytest.mark.parametrize("token", ["", "x" * 5000, "tl_\x00", "<script>alert(1)</script>"])
def test_garbage_tokens_are_refused_with_a_page_not_a_500(app: Flask, token: str) -> None:
    answer = login(browser(app), token)
    assert answer.status_code == 401
    assert answer.mimetype == "text/html"
    assert "<script>alert(1)</script>" not in answer.get_data(as_text=True)


def test_login_without_the_form_value_is_refused(app: Flask, services: NodeServices) -> None:
    # Login CSRF: a forged cross-site form cannot carry the double-submit value.
    client = browser(app)
    answer = client.post(
        f"{BASE}/console/login",
        data={"token": token_with(services, "officer"), "login_value": "forged"},
        headers=ORIGIN,
    )
    assert answer.status_code == 400
    assert _cookie(client, COOKIE) is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "http://localhost/"}],
)
def test_posts_from_another_origin_are_refused(
    app: Flask, services: NodeServices, headers: dict[str, str]
) -> None:
    client = logged_in(app, token_with(services, "officer"))
    page = client.get(f"{BASE}/console/")
    answer = client.post(
        f"{BASE}/console/logout", data={"csrf_token": csrf_of(page)}, headers=headers
    )
    assert answer.status_code == 403
    # Still logged in: the forged logout changed nothing.
    assert client.get(f"{BASE}/console/").status_code == 200


def test_posts_without_the_csrf_token_are_refused(app: Flask, services: NodeServices) -> None:
    client = logged_in(app, token_with(services, "officer"))
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": ""}):
        answer = client.post(f"{BASE}/console/logout", data=data, headers=ORIGIN)
        assert answer.status_code == 400
        assert "security token" in answer.get_data(as_text=True)
    assert client.get(f"{BASE}/console/").status_code == 200


def test_another_sessions_csrf_token_does_not_work(app: Flask, services: NodeServices) -> None:
    token = token_with(services, "officer")
    alice, mallory = logged_in(app, token), logged_in(app, token)
    mallory_csrf = csrf_of(mallory.get(f"{BASE}/console/"))
    answer = alice.post(f"{BASE}/console/logout", data={"csrf_token": mallory_csrf}, headers=ORIGIN)
    assert answer.status_code == 400


def test_logout_ends_the_session_for_good(app: Flask, services: NodeServices) -> None:
    client = logged_in(app, token_with(services, "officer"))
    stolen = _cookie(client, COOKIE)
    assert stolen
    answer = submit(client, "/console/", "/console/logout", {})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/login")
    # Replaying the old cookie (a copy taken before logout) gets nothing.
    thief = browser(app)
    thief.set_cookie(COOKIE, stolen, domain="localhost")
    assert thief.get(f"{BASE}/console/").status_code == 303


def test_a_revoked_token_ends_its_sessions(app: Flask, services: NodeServices) -> None:
    token = token_with(services, "officer")
    client = logged_in(app, token)
    token_id = token.split("_")[1]
    assert revoke_token(services.db, token_id, now=datetime.now(UTC), actor="test")
    services.authenticator.forget()
    assert client.get(f"{BASE}/console/").status_code == 303


def test_sessions_expire_when_idle_and_at_their_absolute_end(
    app: Flask, services: NodeServices
) -> None:
    sessions = console_sessions.ConsoleSessions(services.db, services.authenticator)
    start = datetime.now(UTC)
    user = sessions.login(token_with(services, "auditor"), now=start, client="test")
    assert user is not None
    assert sessions.resolve(user.session_id, now=start + timedelta(minutes=29)) is not None
    # Active every 20 minutes, still cut at the absolute lifetime.
    at = start
    while at + timedelta(minutes=20) < start + console_sessions.ABSOLUTE_LIFETIME:
        at += timedelta(minutes=20)
        assert sessions.resolve(user.session_id, now=at) is not None
    assert sessions.resolve(user.session_id, now=start + console_sessions.ABSOLUTE_LIFETIME) is None
    idle = sessions.login(token_with(services, "auditor"), now=start, client="test")
    assert idle is not None
    assert sessions.resolve(idle.session_id, now=start + timedelta(minutes=31)) is None
    assert sessions.resolve("", now=start) is None
    assert sessions.resolve("x" * 500, now=start) is None


def test_a_second_login_opens_a_new_session_and_ends_the_first(
    app: Flask, services: NodeServices
) -> None:
    client = logged_in(app, token_with(services, "officer"))
    first = _cookie(client, COOKIE)
    login(client, token_with(services, "auditor"))
    second = _cookie(client, COOKIE)
    assert first and second and first != second
    old = browser(app)
    old.set_cookie(COOKIE, first, domain="localhost")
    assert old.get(f"{BASE}/console/").status_code == 303


def test_logged_out_pages_redirect_to_login_with_a_safe_next(app: Flask) -> None:
    answer = browser(app).get(f"{BASE}/console/?x=1")
    assert answer.status_code == 303
    assert "/console/login?next=" in answer.headers["Location"]


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/console/credentials", True),
        ("/console/", True),
        ("https://evil.example/console/", False),
        ("//evil.example/console/", False),
        ("/console//evil.example", False),
        ("/console/\\evil", False),
        ("/console/\r\nSet-Cookie: x", False),
        ("/health", False),
        ("", False),
        (None, False),
    ],
)
def test_login_only_returns_to_console_paths(value: str | None, safe: bool) -> None:
    assert (safe_next(value) is not None) is safe


def test_login_follows_next_inside_the_console_only(app: Flask, services: NodeServices) -> None:
    token = token_with(services, "officer")
    inside = login(browser(app), token, next_path="/console/?tab=peers")
    assert inside.headers["Location"].endswith("/console/?tab=peers")
    outside = login(browser(app), token, next_path="https://evil.example/")
    assert outside.headers["Location"].endswith("/console/")


def test_every_console_page_carries_the_security_headers(
    app: Flask, services: NodeServices
) -> None:
    client = logged_in(app, token_with(services, "officer"))
    for path in ("/console/login", "/console/", "/console/no-such-page"):
        answer = client.get(f"{BASE}{path}")
        if answer.status_code == 404:
            continue  # an unknown path is not a console page (JSON problem from the API)
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        body = answer.get_data(as_text=True)
        assert "<script" not in body and "style=" not in body


def test_a_bearer_token_does_not_open_console_pages(app: Flask, services: NodeServices) -> None:
    # The console takes its session cookie only: a stolen API token in a header gets nothing.
    token = token_with(services, "officer")
    answer = browser(app).get(f"{BASE}/console/", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 303


def test_a_low_scope_token_gets_a_page_saying_what_to_do(
    app: Flask, services: NodeServices
) -> None:
    # device-admin may open the overview; the agreement pages are not in its menu.
    client = logged_in(app, token_with(services, "device-admin"))
    page = client.get(f"{BASE}/console/").get_data(as_text=True)
    assert "Agreements</a>" not in page


def test_login_and_logout_are_audited(app: Flask, services: NodeServices) -> None:
    token = token_with(services, "auditor")
    client = logged_in(app, token)
    submit(client, "/console/", "/console/logout", {})
    with services.db.read() as conn:
        actions = [e.action for e in audit_repo.iter_events(conn)]
    assert actions[-2:] == ["console.login", "console.logout"]
