"""WhatsApp delivery through the simulator: hand-off, retries, statuses to read, money, pushes,
inbound replies and the 24-hour window they open."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.campaigns import reply_store
from tambuli.campaigns.replies import handle_replies
from tambuli.channels.whatsapp.base import (
    InboundMedia,
    InboundWhatsApp,
    Location,
    MediaKind,
    WhatsAppState,
    WhatsAppStatus,
)
from tambuli.channels.whatsapp.simulator import WhatsAppSimulator
from tambuli.clock import FakeClock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactFilter
from tambuli.db.engine import Database
from tambuli.errors import FileInUse
from tambuli.files import service as files
from tambuli.messaging import channel_status
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.store import MessageFilter
from tambuli.organizations import profile as profiles
from tambuli.webhooks.service import list_pushes
from tambuli.whatsapp import listing, status_store
from tambuli.whatsapp.simulator_journal import EVENT_LEASE, DatabaseOwedEvents
from tambuli.whatsapp.statuses import sweep_early_statuses
from tambuli.whatsapp.views import render_record
from tests.services.whatsapp_world import JPEG, PRICE, STATUS_DELAY, WhatsAppWorld

PUSH_URL = "https://example.org/whatsapp"


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> WhatsAppWorld:
    """The WhatsApp world on a database of the test's own."""
    return WhatsAppWorld(fresh_db, clock)


async def test_a_delivered_message_is_charged_and_its_statuses_recorded(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230000", client_push_url=PUSH_URL)
    assert await world.deliver() == 1
    stored = await world.message(sent)
    assert stored.status == MessageStatus.ACCEPTED and stored.charged_micro == PRICE
    assert await world.balance(org) == 1_000_000 - PRICE
    assert await world.events_due() == 1  # sent, at once
    record = render_record(await world.message(sent))
    assert record.done and not record.read and record.delivered_to_phone == "unknown"
    world.clock.advance(STATUS_DELAY)
    assert await world.events_due() == 1
    record = render_record(await world.message(sent))
    assert record.delivered_to_phone == "confirmed" and not record.read
    assert record.charged == PRICE and record.content is not None
    # Only the receipt is pushed by default, as for SMS.
    pushes = await list_pushes(world.db, org)
    assert [p["event"] for p in pushes] == ["receipt"]


async def test_0008_reads_the_message_a_second_after_delivery(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230008")
    await world.deliver()
    world.clock.advance(STATUS_DELAY)
    await world.events_due()
    assert not render_record(await world.message(sent)).read
    world.clock.advance(timedelta(seconds=1) - timedelta(milliseconds=1))
    assert await world.events_due() == 0
    world.clock.advance(timedelta(milliseconds=1))
    assert await world.events_due() == 1
    record = render_record(await world.message(sent))
    assert record.read and record.read_at == record.read_at  # set
    stored = await world.message(sent)
    assert stored.read_at == world.clock.now() and stored.state == "read"


async def test_0001_is_refused_for_good_and_refunded(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230001", client_push_url=PUSH_URL)
    await world.deliver()
    stored = await world.message(sent)
    assert stored.status == MessageStatus.FAILED and stored.error == "recipient not on WhatsApp"
    assert stored.charged_micro == 0 and await world.balance(org) == 1_000_000
    assert [p["event"] for p in await list_pushes(world.db, org)] == ["failed"]


async def test_0002_is_retried_by_the_shared_policy_until_accepted(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230002")
    await world.deliver()
    stored = await world.message(sent)
    assert stored.status == MessageStatus.QUEUED and stored.attempts == 1
    assert await world.deliver() == 0  # not due yet
    world.clock.advance(timedelta(seconds=10))
    await world.deliver()
    assert (await world.message(sent)).attempts == 2
    world.clock.advance(timedelta(seconds=20))
    await world.deliver()
    stored = await world.message(sent)
    assert stored.status == MessageStatus.ACCEPTED and stored.attempts == 3
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_0006_fails_as_expired_once_the_deadline_passes(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230006")
    for _ in range(200):
        await world.deliver()
        stored = await world.message(sent)
        if stored.status != MessageStatus.QUEUED:
            break
        world.clock.advance(timedelta(minutes=15))
    assert stored.status == MessageStatus.FAILED and stored.delivery_error == "expired"
    assert await world.balance(org) == 1_000_000


async def test_0003_fails_after_acceptance(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230003")
    await world.deliver()
    world.clock.advance(STATUS_DELAY)
    await world.events_due()
    record = render_record(await world.message(sent))
    assert record.delivered_to_phone == "failed" and record.delivery_error
    assert record.charged == PRICE  # charged on acceptance, as SMS


async def test_a_status_before_its_hand_off_is_recorded_waits_for_it(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230000")
    wamid = f"wamid.sim-{sent.id}-1"
    at = world.clock.now()
    await world.events.record_statuses(
        [WhatsAppStatus("simulator", wamid, WhatsAppState.DELIVERED, "", at)]
    )
    assert render_record(await world.message(sent)).delivered_to_phone == "unknown"
    await world.deliver()
    stored = await world.message(sent)
    assert stored.state == "delivered" and stored.delivered_at == at


async def test_the_0005_reply_is_stored_listed_pushed_and_opens_the_window(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    await profiles.update_profile(world.db, org, inbound_url="https://example.org/in")
    sent = await world.template(org, number, "639171230005")
    await world.deliver()
    world.clock.advance(STATUS_DELAY)
    assert await world.events_due() == 3  # sent, delivered, and the reply
    inbound = await listing.list_messages_after(
        world.db, org, MessageFilter(direction=Direction.INGRESS), None, 10
    )
    [reply] = inbound.messages
    assert (reply.body, reply.sender, reply.recipient) == ("YES", "639171230005", number)
    assert reply.contact_id == sent.contact_id and reply.status == MessageStatus.RECEIVED
    assert [p["event"] for p in await list_pushes(world.db, org)] == ["inbound"]
    ready = await contacts.list_contacts(world.db, org, ContactFilter(whatsapp_ready=True), 1, 10)
    assert [c.id for c in ready.contacts] == [sent.contact_id]
    assert ready.contacts[0].whatsapp_inbound_at == world.clock.now()  # withBsuid in the API
    free = await world.send(org, number, "639171230005", "Thanks!")
    assert free.status == MessageStatus.QUEUED
    # Both directions are listed, newest first.
    assert (
        len((await listing.list_messages_after(world.db, org, MessageFilter(), None, 10)).messages)
        == 3
    )


async def test_inbound_media_and_location_become_files_and_fields(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    message = InboundWhatsApp(
        channel="simulator",
        recipient=number,
        sender="639171230077",
        text="",
        at=world.clock.now(),
        operator_event_id="wamid.in-1",
        media=(InboundMedia(MediaKind.IMAGE, "cat.jpg", "image/jpeg", JPEG, "my cat"),),
        location=Location("14.5995", "120.9842", "Manila", "Rizal Park"),
    )
    await world.events.record_inbound([message, message])
    found = await listing.list_messages_after(world.db, org, MessageFilter(), None, 10)
    [stored] = found.messages
    record = render_record(stored)
    assert record.image_files == ["cat.jpg"] and record.message == "my cat"
    assert record.full_file_paths == [f"/v1/organizations/{org}/files/cat.jpg"]
    assert record.location is not None and record.location.label == "Manila"  # type: ignore[union-attr]
    assert (await files.read_file(world.db, org, "cat.jpg")).content == JPEG
    # Another organization's number gets nothing of it.
    other, _ = await world.new_org()
    assert not (
        await listing.list_messages_after(world.db, other, MessageFilter(), None, 10)
    ).messages


async def test_a_file_a_queued_message_carries_cannot_be_deleted(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    photo = await world.upload(org, "photo.jpg", JPEG)
    sent = await world.template(org, number, "639171230000", media={MediaKind.IMAGE: photo})
    with pytest.raises(FileInUse):
        await files.delete_file(world.db, org, photo)
    await world.deliver()
    assert (await world.message(sent)).status == MessageStatus.ACCEPTED
    await files.delete_file(world.db, org, photo)


async def test_a_stop_by_whatsapp_opts_the_number_out_and_a_start_back_in(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()

    async def write(text: str, event: str) -> None:
        await world.events.record_inbound(
            [
                InboundWhatsApp(
                    channel="simulator",
                    recipient=number,
                    sender="639171230055",
                    text=text,
                    at=world.clock.now(),
                    operator_event_id=event,
                )
            ]
        )

    async def opted_out() -> set[str]:
        async with world.db.read() as conn:
            return await reply_store.select_opted_out(conn, org, ["639171230055"])

    await write("stop", "wamid.stop")
    assert await handle_replies(world.outbox, limit=10, skip_locked=False) == 1
    assert await opted_out() == {"639171230055"}
    assert await handle_replies(world.outbox, limit=10, skip_locked=False) == 0  # handled once
    await write("START", "wamid.start")
    assert await handle_replies(world.outbox, limit=10, skip_locked=False) == 1
    assert await opted_out() == set()


async def test_a_status_kept_while_its_hand_off_was_recorded_is_applied_by_the_sweep(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230004")  # the simulator reports only sent
    await world.deliver()
    wamid = f"wamid.sim-{sent.id}-1"
    # As if kept by a status write that did not see the hand-off's record (PostgreSQL).
    async with world.db.write() as conn:
        await status_store.insert_early_statuses(
            conn,
            [
                {
                    "channel": "simulator",
                    "operator_message_id": wamid,
                    "state": "delivered",
                    "error": "",
                    "at": world.clock.now(),
                }
            ],
        )
    assert await sweep_early_statuses(world.db, world.clock) == 1
    assert (await world.message(sent)).state == "delivered"
    assert await sweep_early_statuses(world.db, world.clock) == 0


async def test_the_simulators_health_is_written_for_other_processes(world: WhatsAppWorld) -> None:
    now = world.clock.now()
    await channel_status.write_channel_health(
        world.db, now, "wa:1", now, [world.simulator.read_health()]
    )
    [reported] = await channel_status.read_channel_health(world.db, now)
    assert (reported.health.name, reported.health.kind) == ("whatsapp simulator", "whatsapp")


async def test_a_restarted_simulator_still_reports_what_was_owed(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230008")
    await world.deliver()
    # The process stops before any status is reported; a new simulator on the same database
    # (a restarted worker) reports every one.
    restarted = WhatsAppSimulator(DatabaseOwedEvents(world.db), world.clock, STATUS_DELAY)
    world.clock.advance(STATUS_DELAY + timedelta(seconds=1))
    assert await restarted.poll_events(world.events) == 3  # sent, delivered, read
    record = render_record(await world.message(sent))
    assert record.delivered_to_phone == "confirmed" and record.read
    # Reported once: nothing is owed any more, by either simulator.
    assert await restarted.poll_events(world.events) == 0
    assert await world.events_due() == 0


async def test_events_claimed_by_a_worker_that_died_are_reported_after_the_lease(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230005")  # delivered, then a reply
    await world.deliver()
    world.clock.advance(STATUS_DELAY)
    journal = DatabaseOwedEvents(world.db)
    claimed = await journal.claim_due(world.clock.now(), 100)  # and then the worker dies
    assert len(claimed) == 3
    assert await world.events_due() == 0  # leased to the dead worker
    world.clock.advance(EVENT_LEASE)
    assert await world.events_due() == 3
    assert render_record(await world.message(sent)).delivered_to_phone == "confirmed"
    inbound = await listing.list_messages_after(
        world.db, org, MessageFilter(direction=Direction.INGRESS), None, 10
    )
    assert [m.body for m in inbound.messages] == ["YES"]
