"""How a worker loop runs: claim and act while there is work, else wait for a wake-up or the
poll interval; and the small wrappers that make a channel's poll or a follow-up wake-up a step."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from tambuli.channels.base import Channel
from tambuli.channels.whatsapp.base import WhatsAppChannel
from tambuli.messaging.receipts import MessageEvents
from tambuli.whatsapp.inbound import WhatsAppEventLog
from tambuli.workers.restarts import LoopHealth

Step = Callable[[], Awaitable[int]]
# Work that may have queued pushes or replies wakes their loops this much later, so a busy
# dispatcher or receipts loop wakes them a few times a second rather than at every batch.
FOLLOW_UP_GATHER_SECONDS = 0.05


async def run_loop(
    step: Step,
    wake: asyncio.Event | None,
    stop: asyncio.Event,
    health: LoopHealth,
    poll_seconds: Callable[[], float],
) -> None:
    """Run `step` until `stop`: again at once after it did some work, else after a wake-up or
    `poll_seconds()`."""
    # A step that raises ends this run of the loop; run_restarting starts it again (its
    # rows stay queued meanwhile).
    while not stop.is_set():
        done = await step()
        health.record_success()
        if done:
            await asyncio.sleep(0)
            continue
        await wait_any(stop, wake, poll_seconds())
        if wake is not None:
            wake.clear()


def waking(
    step: Callable[[], Awaitable[int]], wakes: Sequence[asyncio.Event]
) -> Callable[[], Awaitable[int]]:
    """The step, setting `wakes` shortly after it did some work (which may have queued work
    for the loops they wake)."""
    pending = False

    def wake_now() -> None:
        nonlocal pending
        pending = False
        for wake in wakes:
            wake.set()

    async def step_and_wake() -> int:
        nonlocal pending
        done = await step()
        if done and not pending:
            # Under load every batch would wake the push and reply loops for a query that
            # mostly finds nothing; one wake-up per moment serves them as well.
            pending = True
            asyncio.get_running_loop().call_later(FOLLOW_UP_GATHER_SECONDS, wake_now)
        return done

    return step_and_wake


def poll_channel(channel: Channel, events: MessageEvents) -> Step:
    """A step that reports what an SMS channel has for `events`."""

    async def poll() -> int:
        return await channel.poll_events(events)

    return poll


def poll_whatsapp_channel(channel: WhatsAppChannel, events: WhatsAppEventLog) -> Step:
    """A step that reports what a WhatsApp channel has for `events`."""

    async def poll() -> int:
        return await channel.poll_events(events)

    return poll


async def wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Return when `stop` or `wake` is set, or after `seconds`."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
