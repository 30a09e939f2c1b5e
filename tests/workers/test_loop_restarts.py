"""A worker loop whose step raises goes on, and the restart is counted for the metrics."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from prometheus_client import REGISTRY

from tambuli.channels.base import ChannelEvents
from tambuli.channels.simulator import SimulatorChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.simulator_journal import DatabaseJournal
from tambuli.settings import Settings
from tambuli.workers.runner import Workers


class BrokenEvents(SimulatorChannel):
    """A simulator whose event polling always fails (a bug in a channel)."""

    async def poll_events(self, events: ChannelEvents) -> int:
        raise RuntimeError("broken on purpose")


def _restarts(loop: str) -> float:
    return REGISTRY.get_sample_value("tambuli_worker_loop_restarts_total", {"loop": loop}) or 0.0


async def _wait_for_restarts(loop: str, at_least: float) -> None:
    for _ in range(1_000_000):  # bounded by the caller's timeout
        if _restarts(loop) >= at_least:
            return
        await asyncio.sleep(0.01)


async def test_a_failing_loop_step_is_counted_as_a_restart_and_the_loop_goes_on(
    fresh_db: Database, clock: FakeClock
) -> None:
    channel = BrokenEvents(
        DatabaseJournal(fresh_db), clock, timedelta(seconds=1), 0, name="broken-events"
    )
    settings = Settings(database_url=fresh_db.url, worker_poll_seconds=0.01)
    workers = Workers(fresh_db, clock, settings, channels=[channel])
    before = _restarts("broken-events events")
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        # Two failures: the loop was started again after the first.
        async with asyncio.timeout(60):
            await _wait_for_restarts("broken-events events", before + 2)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
    assert not running.cancelled()
