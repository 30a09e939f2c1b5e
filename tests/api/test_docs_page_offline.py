"""The /docs page renders every operation in a browser that can reach nothing but the server.

Debian's Chromium (`apt-get install chromium`; scripts/bootstrap --dev installs it) is driven by
Playwright; without it the test fails, as every browser test does (tests/support/browser.py).
Every request to anywhere but the test server is aborted and recorded: the page must render
without them, and must not even ask for them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from tests.support.browser import chromium_arguments, find_chromium
from tests.support.published import published_document
from tests.support.server import RunningServer


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless system Chromium (per test: sync Playwright's loop, left running, would stop
    the async database fixtures of the next test)."""
    executable = find_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=chromium_arguments()
        )
        try:
            yield launched
        finally:
            launched.close()


def test_the_docs_page_renders_every_operation_without_internet(
    browser: Browser, server: RunningServer
) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    refused: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server.base_url + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page = browser.new_page()
    try:
        page.route("**/*", only_the_server)
        page.goto(f"{server.base_url}/docs", wait_until="load")
        operations = [
            operation["operationId"]
            for item in published_document()["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict) and "operationId" in operation
        ]
        page.wait_for_selector('[data-section-id="operation/getOrgBalance"]', timeout=60_000)
        for operation_id in operations:
            assert page.locator(f'[data-section-id="operation/{operation_id}"]').count() == 1, (
                operation_id
            )
        assert "Get organization balance" in page.inner_text("body")
    finally:
        page.close()
    assert refused == []
