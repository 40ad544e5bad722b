"""Debian's Chromium, headless, driven by Playwright against the live test server, for the tests
that need a real browser (tests/surveys/public/test_browser*.py, tests/cxfeedback/test_admin_browser.py).

Nothing is downloaded: Playwright launches the Chromium binary at CHROMIUM_PATH (or
/usr/bin/chromium), and axe-core comes inside the axe-playwright-python wheel. Without a Chromium
binary the tests are skipped with NO_CHROMIUM as their reason, and the run ends with one line that
counts them and says how to install it (cxfeedback/pytest_plugin.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.db import connections

from cxfeedback.pytest_plugin import NO_CHROMIUM

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """CHROMIUM_PATH when set (and only it: a path that names no binary means no browser), else
    Debian's /usr/bin/chromium or a `chromium` on PATH."""
    named = os.environ.get("CHROMIUM_PATH")
    candidates = [named] if named else ["/usr/bin/chromium", shutil.which("chromium")]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def browser_session(monkeypatch) -> Iterator:
    """A launched Chromium for one test (the body of each module's `browser` fixture)."""
    path = chromium_path()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM calls
    # from a thread with a running loop; the test's own queries are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # While that loop runs Django keeps this thread's connections apart (asgiref's Local), so
        # the ones the test opened are closed here, or they would outlive the test database.
        connections.close_all()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def assert_accessible(page) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    assert serious_violations(page) == [], page.url


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than its window: what a phone would scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
