"""Delivery through the simulator: hand-off, retries, deadlines, receipts, replies, pacing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from tambuli.billing import service as billing
from tambuli.billing.models import EntryKind
from tambuli.channels.base import HandOff, OutboundSms
from tambuli.channels.config.registry import route_all_to
from tambuli.channels.sms.simulator import SimulatorChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.messaging import listing, queue_store
from tambuli.messaging.delivery import Dispatcher
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.simulator_journal import (
    DatabaseJournal,
    count_handoffs_by_message,
    read_simulator_inbox,
)
from tambuli.messaging.store import MessageFilter
from tambuli.messaging.views import render_record
from tambuli.webhooks.service import list_pushes
from tests.services.sms_world import PRICE, RECEIPT_DELAY, SmsWorld, WrappedSimulator


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def test_an_accepted_message_is_charged_and_its_receipt_confirms_it(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234000", "x" * 200)  # two parts
    assert await world.balance(org) == 1_000_000 - 2 * PRICE
    assert await world.deliver() == 1
    stored = await world.message(sent)
    record = render_record(stored)
    assert stored.status == MessageStatus.ACCEPTED
    assert record.done and record.delivered_to_telco
    assert record.delivered_to_phone == "unknown"
    assert (record.charged_micro, record.charged_human) == (2 * PRICE, "0.04")
    assert record.success_part_count == 2
    assert await world.balance(org) == 1_000_000 - 2 * PRICE

    world.clock.advance(RECEIPT_DELAY - timedelta(milliseconds=1))
    assert await world.receipts() == 0
    world.clock.advance(timedelta(milliseconds=1))
    assert await world.receipts() == 1
    assert render_record(await world.message(sent)).delivered_to_phone == "confirmed"
    # A receipt arrives once; polling again finds nothing more.
    assert await world.receipts() == 0


async def test_a_refused_message_fails_at_once_and_is_fully_refunded(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230001")
    await world.deliver()
    record = render_record(await world.message(sent))
    assert record.done and not record.delivered_to_telco
    assert record.error == "no route"
    assert record.charged_micro == 0
    assert await world.balance(org) == 1_000_000
    kinds = [e.kind for e in await billing.list_ledger_entries(world.db, org)]
    assert kinds[:2] == [EntryKind.RELEASE, EntryKind.RESERVE]
    failed = await listing.list_messages_after(world.db, org, MessageFilter(failed=True), None, 100)
    assert [m.id for m in failed.messages] == [sent.message.id]


async def test_two_transient_failures_are_retried_with_backoff_and_the_third_gets_through(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230002")
    await world.deliver()
    first = await world.message(sent)
    assert first.status == MessageStatus.QUEUED and first.attempts == 1
    assert first.error
    # Backoff: 10 s for the first retry (jitter fixed at the middle), nothing before.
    world.clock.advance(timedelta(seconds=9))
    assert await world.deliver() == 0
    world.clock.advance(timedelta(seconds=1))
    assert await world.deliver() == 1
    assert (await world.message(sent)).attempts == 2
    world.clock.advance(timedelta(seconds=19))
    assert await world.deliver() == 0
    world.clock.advance(timedelta(seconds=1))
    assert await world.deliver() == 1
    final = await world.message(sent)
    assert final.status == MessageStatus.ACCEPTED and final.attempts == 3
    assert final.error == ""
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    assert (await world.message(sent)).receipt == "confirmed"


async def test_a_failed_receipt_reports_unreachable(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230003")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    record = render_record(await world.message(sent))
    assert record.delivered_to_telco
    assert (record.delivered_to_phone, record.delivery_error) == ("failed", "unreachable")
    # The operator took it, so it stays charged.
    assert record.charged_micro == PRICE


async def test_without_a_receipt_delivered_to_phone_stays_unknown(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230004")
    await world.deliver()
    world.clock.advance(timedelta(hours=1))
    assert await world.receipts() == 0
    record = render_record(await world.message(sent))
    assert record.done and record.delivered_to_telco
    assert record.delivered_to_phone == "unknown"


async def test_a_reply_is_stored_as_inbound_and_matched_to_the_newest_contact(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230005", "Coming tomorrow?", use_contacts=True)
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    inbound = await listing.list_messages_after(
        world.db, org, MessageFilter(direction=Direction.INGRESS), None, 100
    )
    assert len(inbound.messages) == 1
    reply = inbound.messages[0]
    assert (reply.sender, reply.recipient, reply.body) == ("639171230005", "Tambuli", "YES")
    assert reply.contact_id == sent.message.contact_id is not None
    assert render_record(reply).direction == "ingress"
    outbound = await listing.list_messages_after(
        world.db, org, MessageFilter(direction=Direction.EGRESS), None, 100
    )
    assert [m.id for m in outbound.messages] == [sent.message.id]


async def test_a_message_that_never_gets_through_expires_at_its_deadline_and_is_refunded(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171230006")
    deadline = sent.message.deadline_at
    assert deadline == sent.message.created_at + timedelta(hours=24)
    rounds = 0
    while (await world.message(sent)).status == MessageStatus.QUEUED:
        await world.deliver()
        world.clock.advance(timedelta(minutes=15))
        rounds += 1
        assert rounds < 200, "the message never ended"
    record = render_record(await world.message(sent))
    assert record.done and not record.delivered_to_telco
    assert record.delivery_error == "expired"
    assert record.charged_micro == 0
    assert await world.balance(org) == 1_000_000
    assert world.clock.now() >= deadline


async def test_at_most_five_messages_per_number_reach_the_channel_in_a_minute(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = [await world.send(org, "639171234567", f"message {i}") for i in range(7)]
    await world.deliver()
    statuses = [(await world.message(s)).status for s in sent]
    assert statuses.count(MessageStatus.ACCEPTED) == 5
    assert statuses.count(MessageStatus.QUEUED) == 2
    # The held-back ones are not lost: they go once the minute has passed.
    world.clock.advance(timedelta(seconds=59))
    await world.deliver()
    assert [(await world.message(s)).status for s in sent].count(MessageStatus.ACCEPTED) == 5
    world.clock.advance(timedelta(seconds=1))
    await world.deliver()
    assert [(await world.message(s)).status for s in sent] == [MessageStatus.ACCEPTED] * 7
    inbox = await read_simulator_inbox(world.db, "639171234567")
    assert len(inbox) == 7


async def test_a_dead_workers_claim_expires_and_another_worker_delivers_the_message(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234001")
    now = world.clock.now()
    async with world.db.write() as conn:
        # A worker claims the message and dies before handing it off.
        claimed = await queue_store.claim_due_messages(
            conn, now, now + world.rules.lease, 10, skip_locked=not world.db.is_sqlite
        )
    assert [m.id for m in claimed] == [sent.message.id]
    assert await world.deliver() == 0
    world.clock.advance(world.rules.lease)
    assert await world.deliver() == 1
    assert (await world.message(sent)).status == MessageStatus.ACCEPTED
    assert await count_handoffs_by_message(world.db) == {sent.message.id: 1}


async def test_a_receipt_push_is_queued_when_a_push_url_is_given(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(
        org, "639171234002", client_push_url="http://127.0.0.1:9/hook", client_ref="ref-7"
    )
    await world.send(org, "639171234003")  # no URL: no pushes
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    pushes = sorted(await list_pushes(world.db, org), key=lambda p: p["id"])
    assert [p["event"] for p in pushes] == ["receipt"]
    assert {p["url"] for p in pushes} == {"http://127.0.0.1:9/hook"}
    last = json.loads(pushes[-1]["payload"])
    assert last["id"] == sent.message.message_id
    assert "event" not in last
    assert last["deliveredToPhone"] == "confirmed"
    assert last["client_ref"] == "ref-7"


async def test_every_message_row_ends_with_a_settled_or_released_reservation(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    for ending in ("0000", "0001", "0003"):
        await world.send(org, f"63917123{ending}")
    await world.deliver()
    async with world.db.read() as conn:
        rows = (await conn.execute(select(messages.c.reservation_id))).all()
    for (reservation_id,) in rows:
        reservation = await billing.get_reservation(world.db, int(reservation_id))
        assert reservation.status != "held"
    assert await world.balance(org) == 1_000_000 - 2 * PRICE


class SixteenBitReferences(WrappedSimulator):
    """The simulator behind a 7-octet concatenation header (as SMPP with udh16 has).

    It keeps what it was handed; with `refuse_last` the operator refuses each message's last
    part, as an SMSC may refuse a later part of a message whose first part it took.
    """

    def __init__(self, world: SmsWorld, refuse_last: bool = False) -> None:
        super().__init__(world)
        self.refuse_last = refuse_last
        self.part_header_octets = 7
        self.handed: list[OutboundSms] = []

    async def submit(self, batch: Sequence[OutboundSms]) -> list[HandOff]:
        self.handed.extend(batch)
        answers = await self.world.channel.submit(batch)
        if not self.refuse_last:
            return answers
        return [replace(a, accepted_parts=a.accepted_parts - 1) for a in answers]


async def test_parts_are_cut_for_the_channels_header_and_charged_as_billed(
    world: SmsWorld,
) -> None:
    channel = SixteenBitReferences(world)
    world.dispatcher = Dispatcher(world.db, world.clock, route_all_to(channel), world.rules)
    org = await world.new_org()
    sent = await world.send(org, "639171234010", "a" * 306)  # two 153-septet parts
    assert await world.balance(org) == 1_000_000 - 2 * PRICE

    await world.deliver()

    [handed] = channel.handed
    assert handed.parts == ("a" * 152, "a" * 152, "aa")
    record = render_record(await world.message(sent))
    assert record.delivered_to_telco
    # The part the longer header costs is never charged or reported.
    assert (record.parts, record.success_part_count) == (2, 2)
    assert record.charged_micro == 2 * PRICE
    assert await world.balance(org) == 1_000_000 - 2 * PRICE


async def test_a_refused_part_is_not_charged_when_a_channel_sends_more_parts_than_billed(
    world: SmsWorld,
) -> None:
    channel = SixteenBitReferences(world, refuse_last=True)
    world.dispatcher = Dispatcher(world.db, world.clock, route_all_to(channel), world.rules)
    org = await world.new_org()
    sent = await world.send(org, "639171234011", "a" * 306)

    await world.deliver()

    assert len(channel.handed[0].parts) == 3
    record = render_record(await world.message(sent))
    assert record.delivered_to_telco
    # Two of the three parts sent were taken: one part short of the two billed.
    assert (record.parts, record.success_part_count) == (2, 1)
    assert record.charged_micro == PRICE
    assert await world.balance(org) == 1_000_000 - PRICE


class FailingOnce(DatabaseJournal):
    """A journal whose first attempt to forget delivered events fails (a crash there)."""

    failed = False

    async def mark_events_sent(self, ids: Sequence[int]) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("killed before the events were marked sent")
        await super().mark_events_sent(ids)


async def test_a_reply_replayed_after_a_crash_is_stored_once(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = SmsWorld(fresh_db, clock)
    world.channel = SimulatorChannel(
        FailingOnce(fresh_db), clock, RECEIPT_DELAY, parts_per_second=0
    )
    world.dispatcher = Dispatcher(fresh_db, clock, route_all_to(world.channel), world.rules)
    org = await world.new_org()
    await world.send(org, "639171230005")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    with pytest.raises(RuntimeError):
        await world.receipts()
    world.clock.advance(timedelta(minutes=2))
    assert await world.receipts() == 1
    inbound = await listing.list_messages_after(
        world.db, org, MessageFilter(direction=Direction.INGRESS), None, 100
    )
    assert len(inbound.messages) == 1


async def test_search_ignores_case_beyond_ascii_on_both_databases(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234009", "ÉCOLE bukas, Ñino")
    for term in ("école", "ÑINO", "ñino"):
        found = await listing.list_messages_after(
            world.db, org, MessageFilter(search=term), None, 100
        )
        assert [m.id for m in found.messages] == [sent.message.id], term
