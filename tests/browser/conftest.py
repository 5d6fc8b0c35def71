"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live server.

Fixtures here:
  browser    one headless Chromium for the whole run (FAILS, never skips, when it is not installed)
  new_page   new_page() opens a page in a fresh browser context (its own cookies: a second person)

Each test needs the live server, so it gets transactional_db: rows made in the test are committed
and the server thread sees them. Checks for every page live in tests/browser/checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio loop running in the main thread; Django would otherwise
# refuse ORM calls from the test body ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("CIVICDESK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000


MISSING_CHROMIUM = (
    f"The browser tests need Debian's Chromium at {CHROMIUM}, and it is not there. "
    "Install it with `apt-get install -y chromium` (never `playwright install`)."
)


class _MissingChromium:
    """Stands in for the browser when Chromium is not installed: the first use FAILS the test (never skips)."""

    def __getattr__(self, name):
        pytest.fail(MISSING_CHROMIUM, pytrace=False)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        # Failing here would report an error at set-up; failing at first use reports a failed test.
        yield _MissingChromium()
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, live_server, settings):
    """new_page() is a page in a new browser context: separate cookies, so a separate person.

    Links the site writes into e-mails (SITE_URL) point at the live server for the test's length.
    """
    settings.SITE_URL = live_server.url
    contexts = []

    def _new_page():
        context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="en-GB")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()
