"""The officer console in a real browser (Chromium, headless) against a real node process.

What a user sees: the login page, a refused token, the overview after login, and logging
out. The pages of each console area have their own browser tests beside this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from browser import console_page, log_in, screenshot

from nodeproc import NodeProcess


@pytest.fixture(scope="module")
def eu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("console-eu")
    with NodeProcess(tmp / "eu") as node:
        node.init(None, trustme.CA())
        node.start(workers=1)
        yield node


def test_log_in_see_the_overview_and_log_out(eu: NodeProcess, tmp_path: Path) -> None:
    with console_page(tmp_path) as page:
        page.goto(eu.url("/console/"))
        # Logged out: the browser lands on the login form.
        assert "/console/login" in page.url
        screenshot(page, tmp_path, "login")

        page.fill("#token", "tl_0000000000000000_" + "A" * 43)
        page.click("button[type=submit]")
        assert "not valid on this node" in page.inner_text("[role=alert]")

        log_in(page, eu.url(""), eu.admin_token)
        assert page.inner_text("h1") == "Overview"
        figures = page.inner_text("#credentials")
        assert "active" in figures and "revoked" in figures
        assert "No peer pinned yet" in page.inner_text("#peers")
        cookies = {c["name"]: c for c in page.context.cookies()}
        session = cookies["__Host-trustlane-console"]
        assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
        # The page cannot read its own session cookie from script.
        assert "__Host-trustlane-console" not in page.evaluate("document.cookie")
        screenshot(page, tmp_path, "overview")

        page.click("text=Log out")
        page.wait_for_url("**/console/login")
        page.goto(eu.url("/console/"))
        assert "/console/login" in page.url
