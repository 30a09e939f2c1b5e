"""Several workers on one database: every message is handed off exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from tambuli.channels.base import HandOff, OutboundSms
from tambuli.channels.config.registry import route_all_to
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import DeliveryRules, Dispatcher
from tambuli.messaging.models import MessageStatus
from tambuli.messaging.simulator_journal import count_handoffs_by_message, read_simulator_inbox
from tambuli.settings import Settings
from tambuli.workers.sms_channels import DISPATCH_LOOPS, build_delivery_rules
from tests.services.sms_world import SmsWorld, WrappedSimulator

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


class HeldSubmits(WrappedSimulator):
    """A channel that holds every batch until `expected` batches are in flight together."""

    def __init__(self, world: SmsWorld, expected: int) -> None:
        super().__init__(world)
        self.expected = expected
        self.batches: list[list[int]] = []
        self.all_in = asyncio.Event()

    async def submit(self, batch: Sequence[OutboundSms]) -> list[HandOff]:
        self.batches.append([sms.message_id for sms in batch])
        if len(self.batches) >= self.expected:
            self.all_in.set()
        await self.all_in.wait()
        return await super().submit(batch)


async def test_batches_in_flight_together_hand_off_each_message_once(world: SmsWorld) -> None:
    org = await world.new_org(balance_micro=100_000_000)
    for i in range(40):
        await world.send(org, f"6391713{i:04d}9")
    channel = HeldSubmits(world, expected=DISPATCH_LOOPS)
    rules = DeliveryRules(batch_size=20, lease=timedelta(minutes=5))
    dispatcher = Dispatcher(world.db, world.clock, route_all_to(channel), rules)

    claimed = await asyncio.wait_for(
        asyncio.gather(*(dispatcher.dispatch_once() for _ in range(DISPATCH_LOOPS))), 30
    )

    assert sum(claimed) == 40
    assert len(channel.batches) == DISPATCH_LOOPS
    assert sorted(i for batch in channel.batches for i in batch) == sorted(
        set(i for batch in channel.batches for i in batch)
    )
    handoffs = await count_handoffs_by_message(world.db)
    assert len(handoffs) == 40 and set(handoffs.values()) == {1}


async def test_pacing_counts_the_hand_offs_of_a_batch_not_yet_recorded(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = [await world.send(org, "639171234567", f"message {i}") for i in range(7)]
    channel = HeldSubmits(world, expected=2)
    # Two batches of four to one number, both in flight before either is recorded.
    rules = DeliveryRules(batch_size=4, lease=timedelta(minutes=5), pacing_limit=5)
    dispatcher = Dispatcher(world.db, world.clock, route_all_to(channel), rules)

    await asyncio.wait_for(
        asyncio.gather(dispatcher.dispatch_once(), dispatcher.dispatch_once()), 30
    )

    statuses = [(await world.message(s)).status for s in sent]
    assert statuses.count(MessageStatus.ACCEPTED) == 5
    assert statuses.count(MessageStatus.QUEUED) == 2
    assert len(await read_simulator_inbox(world.db, "639171234567")) == 5
    # Once recorded, the database alone holds them back until the minute has passed.
    await dispatcher.dispatch_once()
    statuses = [(await world.message(s)).status for s in sent]
    assert statuses.count(MessageStatus.ACCEPTED) == 5
    world.clock.advance(timedelta(minutes=1))
    await world.deliver()
    assert [(await world.message(s)).status for s in sent] == [MessageStatus.ACCEPTED] * 7


@pytest.mark.parametrize("parts_per_second", [1.0, 3.0, 10.0, 100.0])
async def test_the_batches_in_flight_reach_a_limited_channel_within_half_the_lease(
    world: SmsWorld, parts_per_second: float
) -> None:
    settings = Settings()
    world.channel.parts_per_second = parts_per_second
    rules = build_delivery_rules(settings, [world.channel])

    queued_seconds = rules.batch_size * DISPATCH_LOOPS / parts_per_second
    assert queued_seconds <= settings.claim_lease_seconds / 2
