"""Pushes to a message's clientPushURL, through the simulator to a real HTTP receiver.

By default an organization gets what the engageSPARK spec describes: one push per delivery
receipt, and one when a message fails for good, each body the stored SMS record alone. An
organization that chose every event also gets `accepted`, and an `event` field in each body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import profile as profiles
from tambuli.organizations.models import ClientPushEvents
from tambuli.outbound_http import OutboundHttp
from tambuli.webhooks.service import (
    PushDelivery,
    deliver_due_pushes,
    list_pushes,
    read_webhook_secret,
)
from tests.services.sms_world import RECEIPT_DELAY, SmsWorld
from tests.support.receiver import PushReceiver, Received, running_receiver
from tests.support.spec import MESSAGE_PATH, assert_matches_spec


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own, at the real time (for signatures)."""
    clock.set(datetime.now(UTC))
    return SmsWorld(fresh_db, clock)


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    """A real HTTP server on 127.0.0.1 recording every push."""
    with running_receiver() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[OutboundHttp]:
    """The HTTP client pushes go through."""
    async with OutboundHttp() as http:
        yield http


async def run_message_lifecycle(world: SmsWorld, client: OutboundHttp) -> None:
    """Hand off what is due, let the receipts come, deliver every push queued meanwhile."""
    delivery = PushDelivery(client=client, allow_private=True)
    await world.deliver(rounds=2)
    await deliver_due_pushes(world.db, world.clock, delivery)
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    await deliver_due_pushes(world.db, world.clock, delivery)


def bodies_for(pushes: list[Received], message_id: str) -> list[dict[str, object]]:
    """The bodies pushed about one message, in the order they arrived."""
    return [body for body in (p.json() for p in pushes) if body["id"] == message_id]


async def test_by_default_a_receipt_is_pushed_once_as_the_bare_sms_record_of_the_spec(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    url = f"{receiver.url}/sms"
    confirmed = await world.send(org, "639171234000", client_push_url=url, client_ref="r-1")
    unreachable = await world.send(org, "639171230003", client_push_url=url)

    await run_message_lifecycle(world, client)

    pushes = receiver.received("/sms")
    [first] = bodies_for(pushes, confirmed.message.message_id)
    [second] = bodies_for(pushes, unreachable.message.message_id)
    assert len(pushes) == 2
    for body in (first, second):
        assert "event" not in body
        assert_matches_spec("GET", MESSAGE_PATH, 200, body)
    assert (first["deliveredToTelco"], first["deliveredToPhone"]) == (True, "confirmed")
    assert first["client_ref"] == "r-1"
    assert (second["deliveredToPhone"], second["deliveryError"]) == ("failed", "unreachable")
    # The body is what the API returns for the message, as it was when the receipt came.
    stored = await world.message(confirmed)
    secret = await read_webhook_secret(world.db, org)
    [request] = [p for p in pushes if p.json()["id"] == confirmed.message.message_id]
    assert Webhook(secret).verify(request.body, request.headers) == first
    assert first["successPartCount"] == stored.success_parts == 1


async def test_by_default_a_message_that_fails_for_good_is_pushed_once_since_no_receipt_follows(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    refused = await world.send(org, "639171230001", client_push_url=f"{receiver.url}/sms")

    await run_message_lifecycle(world, client)

    [body] = bodies_for(receiver.received("/sms"), refused.message.message_id)
    assert "event" not in body
    assert_matches_spec("GET", MESSAGE_PATH, 200, body)
    assert (body["done"], body["deliveredToTelco"], body["error"]) == (True, False, "no route")
    assert body["deliveredToPhone"] == "unknown"


async def test_by_default_nothing_is_pushed_when_an_operator_takes_a_message_without_a_receipt(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    await world.send(org, "639171230004", client_push_url=f"{receiver.url}/sms")

    await run_message_lifecycle(world, client)

    assert receiver.received() == []
    assert await list_pushes(world.db, org) == []


async def test_an_organization_that_chose_every_event_gets_accepted_too_with_an_event_field(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    other = await world.new_org()
    await profiles.update_profile(world.db, org, client_push_events=ClientPushEvents.ALL)
    url = f"{receiver.url}/sms"
    mine = await world.send(org, "639171234000", client_push_url=url)
    refused = await world.send(org, "639171230001", client_push_url=url)
    theirs = await world.send(other, "639171234001", client_push_url=url)

    await run_message_lifecycle(world, client)

    pushes = receiver.received("/sms")
    mine_bodies = bodies_for(pushes, mine.message.message_id)
    assert [b["event"] for b in mine_bodies] == ["accepted", "receipt"]
    assert mine_bodies[0]["deliveredToPhone"] == "unknown"
    assert mine_bodies[1]["deliveredToPhone"] == "confirmed"
    assert [b["event"] for b in bodies_for(pushes, refused.message.message_id)] == ["failed"]
    # The choice is the organization's own: another one keeps the spec's pushes.
    [their_body] = bodies_for(pushes, theirs.message.message_id)
    assert "event" not in their_body
    for body in (b.json() for b in pushes):
        assert_matches_spec("GET", MESSAGE_PATH, 200, body)
    stored = sorted(await list_pushes(world.db, org), key=lambda p: p["id"])
    assert [
        p["event"] for p in stored if json.loads(p["payload"])["id"] == mine.message.message_id
    ] == [
        "accepted",
        "receipt",
    ]


async def test_going_back_to_receipts_stops_the_extra_events_for_later_messages(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    await profiles.update_profile(world.db, org, client_push_events=ClientPushEvents.ALL)
    changed = await profiles.update_profile(
        world.db, org, client_push_events=ClientPushEvents.RECEIPTS
    )
    assert changed.client_push_events == ClientPushEvents.RECEIPTS
    sent = await world.send(org, "639171234000", client_push_url=f"{receiver.url}/sms")

    await run_message_lifecycle(world, client)

    [body] = bodies_for(receiver.received("/sms"), sent.message.message_id)
    assert "event" not in body and body["deliveredToPhone"] == "confirmed"
