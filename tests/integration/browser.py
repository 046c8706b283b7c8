"""Drive the officer console in a real headless browser: Debian's Chromium via Playwright.

Playwright cannot download its own browser here, so it launches ``/usr/bin/chromium``
(``.ci/run`` installs Debian's ``chromium`` package when it is missing). The node is a real
``trustlane node serve`` process on loopback over HTTPS with a throwaway test CA; the browser
context accepts that CA's certificate (``ignore_https_errors``) and talks to 127.0.0.1 only.

Every page load is checked for console errors (a Content Security Policy violation shows up
there). Screenshots go to the test's temporary folder and, when ``TRUSTLANE_CONSOLE_SHOTS``
names a folder (``docs/console`` to refresh the committed ones), there too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, sync_playwright

__all__ = ["CHROMIUM", "console_page", "log_in", "screenshot"]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS_ENV = "TRUSTLANE_CONSOLE_SHOTS"
TIMEOUT_MS = 20_000


def require_chromium() -> None:
    """Skip when Chromium is missing on a developer's machine; fail in CI."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def console_page(shots: Path) -> Iterator[Page]:
    """A fresh browser page.

    On exit, no page may have logged a console error (script errors, CSP violations) and no
    subresource (stylesheet, icon) may have failed. A page answered with a 4xx on purpose
    (a refused login) is not an error; the browser's own "failed to load" line for it is not
    counted.
    """
    require_chromium()
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} for {response.url}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                ignore_https_errors=True, viewport={"width": 1280, "height": 860}
            )
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", on_console)
            page.on("response", on_response)
            yield page
            context.close()
        finally:
            browser.close()
    assert errors == [], f"the browser logged errors: {errors}"


def screenshot(page: Page, shots: Path, name: str) -> Path:
    """Save a full-page screenshot as ``name.png`` (and into $TRUSTLANE_CONSOLE_SHOTS)."""
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get(SHOTS_ENV)
    if extra:
        target = Path(extra)
        target.mkdir(parents=True, exist_ok=True)
        (target / path.name).write_bytes(path.read_bytes())
    return path


def log_in(page: Page, base_url: str, token: str) -> None:
    """Log in through the login form, as an officer would."""
    page.goto(f"{base_url}/console/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/console/**")
