"""What each dispatch record writes on its message: status, attempts, errors, charge, next time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.messaging import queue_store
from tambuli.messaging.models import DeliveryError, MessageStatus
from tambuli.messaging.queue_store import Accepted, ClaimedMessage, Deferred, Failed, Retry
from tests.services.sms_world import PRICE, SmsWorld


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def claim_messages(world: SmsWorld, count: int) -> list[ClaimedMessage]:
    """Queue `count` messages of one organization and claim them all, in the order sent."""
    org = await world.new_org()
    sent = [await world.send(org, f"63917123{i:04d}") for i in range(count)]
    now = world.clock.now()
    async with world.db.write() as conn:
        claimed = await queue_store.claim_due_messages(
            conn, now, now + world.rules.lease, count, skip_locked=not world.db.is_sqlite
        )
    by_id = {m.id: m for m in claimed}
    return [by_id[s.message.id] for s in sent]


async def test_each_record_writes_its_outcome_on_its_message(world: SmsWorld) -> None:
    accepted, retried, refused, expired, paced = await claim_messages(world, 5)
    now = world.clock.now()
    later = now + timedelta(minutes=5)
    async with world.db.write() as conn:
        await queue_store.record_dispatch(
            conn,
            now,
            [
                Accepted(accepted, "sim", "op-1", parts=1, charged_micro=PRICE),
                Retry(retried, "sim", "busy", later),
                Failed(refused, "sim", "refused", None, attempted=True),
                Failed(expired, "", "too late", DeliveryError.EXPIRED, attempted=False),
                Deferred(paced, later),
            ],
        )
    async with world.db.read() as conn:
        stored = {r.id: r for r in await conn.execute(select(messages))}

    taken = stored[accepted.id]
    assert (taken.status, taken.channel, taken.operator_message_id) == (
        MessageStatus.ACCEPTED.value,
        "sim",
        "op-1",
    )
    assert (taken.attempts, taken.success_parts, taken.charged_micro) == (1, 1, PRICE)
    assert (taken.handed_at, taken.success_at, taken.next_attempt_at) == (now, now, None)

    again = stored[retried.id]
    assert (again.status, again.error, again.attempts) == (MessageStatus.QUEUED.value, "busy", 1)
    assert (again.next_attempt_at, again.lease_until, again.handed_at) == (later, None, now)

    # A refusal for good has no deliveryError word; it counts the hand-off it was refused on.
    gone = stored[refused.id]
    assert (gone.status, gone.error, gone.delivery_error) == (
        MessageStatus.FAILED.value,
        "refused",
        "",
    )
    assert (gone.attempts, gone.charged_micro, gone.channel) == (1, 0, "sim")

    # A message out of time before any hand-off counts no attempt.
    late = stored[expired.id]
    assert (late.status, late.error, late.delivery_error) == (
        MessageStatus.FAILED.value,
        "too late",
        "expired",
    )
    assert (late.attempts, late.channel) == (0, "")

    # Pacing counts no attempt and keeps the message queued for its slot.
    held = stored[paced.id]
    assert (held.status, held.attempts, held.next_attempt_at) == (
        MessageStatus.QUEUED.value,
        0,
        later,
    )
    assert held.lease_until is None
