"""Several workers on one database: every message is handed off exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tambuli.channels.registry import route_all_to
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import DeliveryRules, Dispatcher
from tambuli.messaging.simulator_journal import count_handoffs_by_message
from tests.services.sms_world import SmsWorld

MESSAGES = 400


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def test_four_workers_sharing_a_queue_hand_off_each_message_exactly_once(
    world: SmsWorld,
) -> None:
    org = await world.new_org(balance_micro=100_000_000)
    for i in range(MESSAGES):
        await world.send(org, f"6391712{i:04d}9")
    rules = DeliveryRules(batch_size=25, lease=timedelta(minutes=5))
    # Each worker has its own Database (its own connections), as separate processes would.
    databases = [Database(world.db.url) for _ in range(4)]
    try:
        workers = [
            Dispatcher(db, world.clock, route_all_to(world.channel), rules) for db in databases
        ]

        async def work(dispatcher: Dispatcher) -> int:
            claimed = 0
            while (found := await dispatcher.dispatch_once()) > 0:
                claimed += found
            return claimed

        claimed = await asyncio.gather(*(work(w) for w in workers))
    finally:
        for db in databases:
            await db.dispose()
    assert sum(claimed) == MESSAGES
    handoffs = await count_handoffs_by_message(world.db)
    assert len(handoffs) == MESSAGES
    assert set(handoffs.values()) == {1}
    assert await world.balance(org) == 100_000_000 - MESSAGES * 20_000
