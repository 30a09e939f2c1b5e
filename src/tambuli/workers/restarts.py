"""Restarting a worker loop that crashed: logged, counted, and after a growing pause.

A loop that fails once (a lost connection, one bad batch) is back after a moment; one that
keeps failing waits longer each time, so it neither spins nor floods the log, and after
FAILURES_BEFORE_NOT_READY failures in a row this process counts as unable to deliver: the API
then refuses sends and top-ups (`server.notready`) instead of taking money for work that would
not be done, and GET /readyz says why. The first success makes it ready again.

The pauses are measured on the process's Clock, so tests drive them with a FakeClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tambuli.clock import Clock
from tambuli.errors import TambuliError
from tambuli.metrics import count_loop_restart

log = logging.getLogger("tambuli.workers")
# The pause before the first restart; it doubles with each failure in a row, up to the cap.
RESTART_BASE = timedelta(seconds=0.25)
RESTART_MAX = timedelta(seconds=30)
FAILURES_BEFORE_NOT_READY = 3
# How often a pause looks at the clock (real seconds): a pause on a FakeClock ends this long
# after the test moves the clock past it.
CLOCK_CHECK_SECONDS = 0.05


def restart_delay(failures_in_a_row: int) -> timedelta:
    """The pause before restarting a loop that has just failed this many times in a row."""
    doublings = min(max(failures_in_a_row - 1, 0), 16)
    return min(RESTART_BASE * (1 << doublings), RESTART_MAX)


@dataclass
class LoopHealth:
    """How one loop has fared since the process started."""

    restarts: int = 0
    failures_in_a_row: int = 0
    last_error: str = ""

    @property
    def failing(self) -> bool:
        """Whether the loop has failed too often in a row to count on it."""
        return self.failures_in_a_row >= FAILURES_BEFORE_NOT_READY

    def record_success(self) -> None:
        """The loop did a step's work: whatever failed before has passed."""
        self.failures_in_a_row = 0


async def run_restarting(
    name: str,
    body: Callable[[], Awaitable[None]],
    health: LoopHealth,
    clock: Clock,
    stop: asyncio.Event,
) -> None:
    """Run `body` until `stop` is set; each time it raises, log it, pause, and run it again."""
    while not stop.is_set():
        try:
            await body()
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            repeated = error == health.last_error and health.failures_in_a_row > 0
            health.failures_in_a_row += 1
            health.last_error = error
            delay = restart_delay(health.failures_in_a_row)
            message = "%s loop failed (%d in a row); restarting in %.2f s"
            args = (name, health.failures_in_a_row, delay.total_seconds())
            # A known state (a full disk) or the same error again: one line, no traceback.
            if isinstance(exc, TambuliError) or repeated:
                log.error(message + ": %s", *args, error)
            else:
                log.exception(message, *args)
        await wait_on_clock(clock, clock.now() + delay, stop)
        if not stop.is_set():
            health.restarts += 1
            count_loop_restart(name)


async def wait_on_clock(clock: Clock, until: datetime, stop: asyncio.Event) -> None:
    """Wait until `clock` reaches `until`, or `stop` is set."""
    while not stop.is_set():
        remaining = (until - clock.now()).total_seconds()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(remaining, CLOCK_CHECK_SECONDS))
