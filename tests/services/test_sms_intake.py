"""Group commit of sends to numbers: batches, money per organization, dedup, overload."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.billing.models import EntryKind
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.errors import DuplicateMessage, InsufficientFunds, Overloaded
from tambuli.messaging import store
from tambuli.messaging.intake import Draft, SmsIntake, set_draft_times
from tambuli.messaging.segments import segment_message
from tambuli.messaging.sending import SentMessage
from tambuli.messaging.views import StoredMessage
from tests.services.sms_world import PRICE, SmsWorld


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def _outcomes(world: SmsWorld, sends: list[tuple[int, str, str]]) -> list[object]:
    """Send (org, number, dedup key) all at once; each result or the error it raised."""

    async def one(org: int, number: str, key: str) -> object:
        try:
            return await world.send(org, number, client_dedup=key)
        except (InsufficientFunds, DuplicateMessage) as exc:
            return exc

    return await asyncio.gather(*(one(*s) for s in sends))


async def _message_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def test_concurrent_sends_are_written_together_and_each_gets_its_own_message(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    before = world.db.write_transactions
    results = await _outcomes(world, [(org, f"6391712{i:05d}", "") for i in range(40)])
    assert all(isinstance(r, SentMessage) for r in results)
    ids = {r.message.message_id for r in results if isinstance(r, SentMessage)}
    assert len(ids) == 40
    # Far fewer commits than messages: the first send is written alone, the rest together.
    assert world.db.write_transactions - before <= 3
    assert await world.balance(org) == 1_000_000 - 40 * PRICE
    entries = await billing.list_ledger_entries(world.db, org, limit=100)
    reserves = [e for e in entries if e.kind == EntryKind.RESERVE]
    assert len(reserves) == 40
    # Each entry's balance is the balance right after it, as if made one by one.
    assert sorted(e.balance_after_micro for e in reserves) == [
        1_000_000 - k * PRICE for k in range(40, 0, -1)
    ]


async def test_when_a_batch_does_not_fit_the_balance_the_first_sends_that_fit_go_through(
    world: SmsWorld,
) -> None:
    poor = await world.new_org(balance_micro=3 * PRICE)
    rich = await world.new_org()
    sends = [(poor, f"6391712{i:05d}", "") for i in range(5)]
    sends += [(rich, f"6391812{i:05d}", "") for i in range(5)]
    results = await _outcomes(world, sends)
    poor_sent = [r for r in results[:5] if isinstance(r, SentMessage)]
    assert len(poor_sent) == 3
    assert sum(isinstance(r, InsufficientFunds) for r in results[:5]) == 2
    assert all(isinstance(r, SentMessage) for r in results[5:])
    assert await world.balance(poor) == 0
    assert await world.balance(rich) == 1_000_000 - 5 * PRICE
    assert await _message_count(world.db) == 8


async def test_a_key_repeated_within_one_batch_makes_one_message(world: SmsWorld) -> None:
    org = await world.new_org()
    results = await _outcomes(
        world,
        [(org, "639171234567", "same")] * 5 + [(org, "639171234568", "other")],
    )
    sent = [r for r in results if isinstance(r, SentMessage)]
    repeats = [r for r in results if isinstance(r, DuplicateMessage)]
    assert len(sent) == 2 and len(repeats) == 4
    first = next(r for r in sent if r.message.client_dedup == "same")
    assert all(getattr(r.original, "message_id", None) == first.message.message_id for r in repeats)
    assert await world.balance(org) == 1_000_000 - 2 * PRICE


async def test_more_waiting_sends_than_allowed_are_refused_as_overloaded(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    world.outbox.intake = SmsIntake(world.db, world.clock, max_batch=10, max_waiting=20)
    results = await asyncio.gather(
        *(world.send(org, f"6391712{i:05d}") for i in range(60)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, Overloaded)]
    sent = [r for r in results if isinstance(r, SentMessage)]
    assert refused and sent
    assert len(refused) + len(sent) == 60
    assert await _message_count(world.db) == len(sent)
    assert await world.balance(org) == 1_000_000 - len(sent) * PRICE


class GatedIntake(SmsIntake):
    """An intake whose batch write waits for a gate, so a test can act while requests wait."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        super().__init__(db, clock)
        self.gate = asyncio.Event()

    async def _write(self, batch: list[Any]) -> None:
        await self.gate.wait()
        await super()._write(batch)


def _draft(org: int, number: str, clock: FakeClock) -> Draft:
    segments = segment_message("hello")
    message = store.NewMessage(
        org_id=org,
        contact_id=None,
        sender="Tambuli",
        recipient=number,
        body="hello",
        encoding=segments.encoding.value,
        parts=segments.part_count,
        price_per_part_micro=PRICE,
        client_ref="",
        client_dedup="",
        client_push_url="",
        deadline_at=clock.now(),
        created_at=clock.now(),
    )
    return Draft(message, timedelta(hours=24), segments)


async def test_a_request_cancelled_while_waiting_leaves_its_batch_mates_their_answers(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    intake = GatedIntake(world.db, world.clock)
    tasks = [
        asyncio.create_task(intake.submit(_draft(org, f"6391712{i:04d}9", world.clock)))
        for i in range(3)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    tasks[1].cancel()
    intake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], StoredMessage) and isinstance(results[2], StoredMessage)
    assert isinstance(results[1], asyncio.CancelledError)
    # The cancelled request's message was written with its batch: the client may retry it
    # with its clientDedup key.
    assert await _message_count(world.db) == 3


async def test_drafts_arriving_while_a_batch_is_written_share_the_next_one(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    intake = GatedIntake(world.db, world.clock)
    first = asyncio.ensure_future(intake.submit(_draft(org, "639171200001", world.clock)))
    await asyncio.sleep(0)  # the first batch (of one) is being written, held at the gate
    before = world.db.write_transactions
    later = [
        asyncio.ensure_future(intake.submit(_draft(org, f"6391713{i:05d}", world.clock)))
        for i in range(8)
    ]
    await asyncio.sleep(0)
    intake.gate.set()
    assert isinstance(await first, StoredMessage)
    assert all(isinstance(r, StoredMessage) for r in await asyncio.gather(*later))
    # Nothing waited for company: the first draft was written alone, the eight together.
    assert world.db.write_transactions - before == 2


async def test_an_idle_intake_writes_a_lone_draft_at_once(world: SmsWorld) -> None:
    org = await world.new_org()
    intake = SmsIntake(world.db, world.clock)
    before = world.db.write_transactions
    for i in range(3):
        assert isinstance(
            await intake.submit(_draft(org, f"6391714{i:05d}", world.clock)), StoredMessage
        )
    assert world.db.write_transactions - before == 3


def test_timing_a_draft_keeps_every_other_field() -> None:
    clock = FakeClock()
    draft = _draft(7, "639171200001", clock)
    draft = Draft(
        dataclasses.replace(draft.message, contact_id=3, client_ref="r", campaign_run_id=11),
        draft.delivery_window,
        draft.segments,
    )
    now = clock.now() + timedelta(minutes=5)
    timed = set_draft_times(draft, now)
    assert timed.message == dataclasses.replace(
        draft.message, created_at=now, deadline_at=now + draft.delivery_window
    )
    assert (timed.delivery_window, timed.segments) == (draft.delivery_window, draft.segments)
