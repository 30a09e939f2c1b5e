"""Receipts that overtake the record of their hand-off: kept, then applied with the record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import func, select

from tambuli.channels.base import HandOff, OutboundSms, Receipt, ReceiptStatus
from tambuli.channels.config.registry import route_all_to
from tambuli.channels.sms.simulator import SimulatorChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import early_receipts
from tambuli.messaging import early_receipt_store
from tambuli.messaging.delivery import Dispatcher
from tambuli.messaging.models import MessageStatus
from tambuli.messaging.receipts import EARLY_RECEIPT_KEEP, sweep_early_receipts
from tambuli.messaging.simulator_journal import DatabaseJournal
from tambuli.webhooks.service import list_pushes
from tests.services.sms_world import SmsWorld, WrappedSimulator

PUSH_URL = "http://127.0.0.1:9/hook"


class PollingBeforeRecord(WrappedSimulator):
    """The simulator, its receipts polled between the hand-off and the hand-off's record."""

    async def submit(self, batch: Sequence[OutboundSms]) -> list[HandOff]:
        answers = await self.world.channel.submit(batch)
        self.polled = await self.world.receipts()
        return answers


def overtaking_world(db: Database, clock: FakeClock) -> tuple[SmsWorld, PollingBeforeRecord]:
    """An SMS world whose simulator answers with receipts before the hand-off is recorded."""
    world = SmsWorld(db, clock)
    world.channel = SimulatorChannel(DatabaseJournal(db), clock, timedelta(0), parts_per_second=0)
    early = PollingBeforeRecord(world)
    world.dispatcher = Dispatcher(db, clock, route_all_to(early), world.rules)
    return world, early


def count_pruned() -> float:
    found = REGISTRY.get_sample_value("tambuli_sms_early_receipts_total", {"outcome": "pruned"})
    return found or 0.0


async def count_early_receipts(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(early_receipts))).scalar_one()
        )


async def test_a_receipt_that_overtakes_its_hand_off_is_applied_when_the_record_lands(
    fresh_db: Database, clock: FakeClock
) -> None:
    world, early = overtaking_world(fresh_db, clock)
    org = await world.new_org()
    sent = await world.send(org, "639171234009", client_push_url=PUSH_URL)

    await world.deliver()

    assert early.polled == 1  # the receipt came, and was kept, before the record
    stored = await world.message(sent)
    assert (stored.status, stored.receipt) == (MessageStatus.ACCEPTED, "confirmed")
    assert await count_early_receipts(fresh_db) == 0
    pushes = await list_pushes(fresh_db, org)
    assert [p["event"] for p in pushes] == ["receipt"]


async def test_a_failed_receipt_that_overtakes_its_hand_off_keeps_its_error(
    fresh_db: Database, clock: FakeClock
) -> None:
    world, _ = overtaking_world(fresh_db, clock)
    org = await world.new_org()
    sent = await world.send(org, "639171230003")  # the simulator reports it unreachable

    await world.deliver()

    stored = await world.message(sent)
    assert (stored.receipt, stored.delivery_error) == ("failed", "unreachable")


async def test_an_early_receipt_is_applied_once_however_often_it_comes(
    fresh_db: Database, clock: FakeClock
) -> None:
    world, _ = overtaking_world(fresh_db, clock)
    org = await world.new_org()
    sent = await world.send(org, "639171234009", client_push_url=PUSH_URL)
    handed_off = f"sim-{sent.message.id}-1"
    again = Receipt("simulator", handed_off, ReceiptStatus.FAILED, "expired", 0, clock.now())

    await world.deliver()
    assert await world.events.record_receipts([again]) == set()
    assert await sweep_early_receipts(fresh_db, clock) == 0

    assert (await world.message(sent)).receipt == "confirmed"
    assert await count_early_receipts(fresh_db) == 0
    assert [p["event"] for p in await list_pushes(fresh_db, org)] == ["receipt"]


async def test_an_early_receipt_kept_twice_is_kept_once(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = SmsWorld(fresh_db, clock)
    receipt = Receipt("simulator", "sim-404-1", ReceiptStatus.CONFIRMED, "", 1, clock.now())

    for _ in range(2):
        assert await world.events.record_receipts([receipt]) == {"sim-404-1"}

    assert await count_early_receipts(fresh_db) == 1


async def test_an_early_receipt_survives_a_restart(fresh_db: Database, clock: FakeClock) -> None:
    world = SmsWorld(fresh_db, clock)
    org = await world.new_org()
    sent = await world.send(org, "639171234009")
    # The simulator names its hand-offs by message and attempt: this is the first one's.
    operator_id = f"sim-{sent.message.id}-1"
    receipt = Receipt("simulator", operator_id, ReceiptStatus.CONFIRMED, "", 1, clock.now())
    assert await world.events.record_receipts([receipt]) == {operator_id}

    # A new process: a new connection pool, dispatcher and simulator over the same database.
    restarted_db = Database(fresh_db.url)
    try:
        restarted = SmsWorld(restarted_db, clock)
        await restarted.deliver()
        stored = await restarted.message(sent)
    finally:
        await restarted_db.dispose()

    assert (stored.status, stored.receipt) == (MessageStatus.ACCEPTED, "confirmed")
    assert await count_early_receipts(fresh_db) == 0


async def test_the_sweep_applies_a_receipt_kept_while_its_record_was_committed(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = SmsWorld(fresh_db, clock)
    org = await world.new_org()
    sent = await world.send(org, "639171234009")
    await world.deliver()
    operator_id = f"sim-{sent.message.id}-1"
    # As a receipt kept by a transaction that could not yet see the record leaves it.
    async with fresh_db.write() as conn:
        await early_receipt_store.insert_early_receipts(
            conn,
            [Receipt("simulator", operator_id, ReceiptStatus.CONFIRMED, "", 1, clock.now())],
        )

    assert await sweep_early_receipts(fresh_db, clock) == 1

    assert (await world.message(sent)).receipt == "confirmed"
    assert await count_early_receipts(fresh_db) == 0


async def test_an_early_receipt_that_never_matches_is_pruned_after_a_day(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = SmsWorld(fresh_db, clock)
    lost = Receipt("simulator", "sim-lost-1", ReceiptStatus.CONFIRMED, "", 1, clock.now())
    await world.events.record_receipts([lost])
    pruned_before = count_pruned()

    clock.advance(EARLY_RECEIPT_KEEP - timedelta(seconds=1))
    assert await sweep_early_receipts(fresh_db, clock) == 0
    assert await count_early_receipts(fresh_db) == 1
    clock.advance(timedelta(seconds=2))
    assert await sweep_early_receipts(fresh_db, clock) == 1

    assert await count_early_receipts(fresh_db) == 0
    assert count_pruned() == pruned_before + 1
