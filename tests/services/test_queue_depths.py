"""Queue depths for the metrics: rows due now, waiting for a later time, or claimed."""

from __future__ import annotations

import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging import queue_store
from tambuli.messaging.delivery import count_queued_messages
from tambuli.topups.service import count_open_topups
from tambuli.webhooks.service import count_push_backlog
from tests.services.sms_world import SmsWorld


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def test_queued_messages_are_counted_as_due_later_or_claimed(world: SmsWorld) -> None:
    org = await world.new_org()
    await world.send(org, "639171234001")  # the simulator accepts it
    await world.send(org, "639171230002")  # refused for now: retried later
    assert await count_queued_messages(world.db, world.clock.now()) == {
        "due": 2,
        "later": 0,
        "claimed": 0,
    }
    assert await world.deliver() == 2
    await world.send(org, "639171234003")
    now = world.clock.now()
    async with world.db.write() as conn:
        await queue_store.claim_due_messages(
            conn, now, now + world.rules.lease, 10, skip_locked=not world.db.is_sqlite
        )
    assert await count_queued_messages(world.db, now) == {"due": 0, "later": 1, "claimed": 1}


async def test_empty_queues_count_zero(world: SmsWorld) -> None:
    now = world.clock.now()
    empty = {"due": 0, "later": 0, "claimed": 0}
    assert await count_open_topups(world.db, now) == empty
    assert await count_push_backlog(world.db, now) == empty
