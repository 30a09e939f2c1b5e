"""Fixtures of the console tests: HTTP clients and, for the browser tests, Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

from tests.support.browser import chromium_arguments, find_chromium
from tests.support.server import RunningServer
from tests.web.console_client import ConsoleBrowser


@pytest.fixture
def open_console(server: RunningServer) -> Iterator[Callable[[], ConsoleBrowser]]:
    """Open as many console clients (separate cookie jars) on the session server as needed."""
    opened: list[ConsoleBrowser] = []

    def open_one() -> ConsoleBrowser:
        client = ConsoleBrowser(server.base_url)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        client.close()


# --- Browser tests: Playwright driving Debian's Chromium ------------------------------------

# Screenshots of every page the browser tests visit, kept as the run's artifacts.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's own fixtures (`page`, `browser`) launch the system Chromium too."""
    return {
        **browser_type_launch_args,
        "executable_path": find_chromium(),
        "args": chromium_arguments(),
    }


@pytest.fixture
def browser_page() -> Iterator[Page]:
    """A fresh headless Chromium page (its own cookies), closed after the test.

    Started per test and stopped before the next one: the sync Playwright API must not be
    alive while the asyncio loop of the async fixtures runs.
    """
    executable = find_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=chromium_arguments()
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            context.set_default_timeout(30_000)
            yield context.new_page()
        finally:
            browser.close()


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of what the browser shows, under test-artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on the page."""
    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"accessibility violations on {page.url}:\n" + "\n".join(bad)
