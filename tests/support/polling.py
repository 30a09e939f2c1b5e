"""Wait, in a test's own thread, for something a subprocess does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Call `check` until it returns something true, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


async def wait_for_async(check: Callable[[], Awaitable[Any]], seconds: float = 60.0) -> Any:
    """The same for a check that awaits (a database read), without blocking the event loop."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
