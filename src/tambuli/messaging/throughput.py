"""A token bucket that holds a channel to its configured parts per second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class ThroughputLimiter:
    """Allows `rate` parts per second on average, in bursts of up to one second's worth.

    Real time, not the Clock: this paces traffic to a real peer. A rate of 0 means no limit,
    which is what tests with a fake clock use.
    """

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = rate
        self._updated = monotonic()

    async def acquire(self, parts: int) -> None:
        """Wait until `parts` may be sent."""
        if self.rate <= 0 or parts <= 0:
            return
        now = self._monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= parts
        if self._tokens < 0:
            # Going into debt lets a batch larger than one second's worth through, late.
            await self._sleep(-self._tokens / self.rate)
