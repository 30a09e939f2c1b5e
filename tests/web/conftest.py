"""Fixtures of the console tests: HTTP clients and, for the browser tests, Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

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
