"""A message's timeline for the console: its steps through the simulator, the pushes about
it, and nothing of another organization's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tambuli.channels.base import InboundSms
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import MessageNotFound
from tambuli.messaging.timeline import is_message_final, read_message_timeline
from tambuli.outbound_http import OutboundHttp
from tests.services.sms_world import SmsWorld
from tests.services.test_client_pushes import run_message_lifecycle
from tests.support.receiver import PushReceiver, running_receiver


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world at the real time (push signatures check it)."""
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


async def test_a_delivered_message_shows_queued_handed_off_delivered_and_its_push(
    world: SmsWorld, receiver: PushReceiver, client: OutboundHttp
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234000", client_push_url=f"{receiver.url}/sms")
    message_id = sent.message.message_id
    queued = await read_message_timeline(world.db, org, message_id)
    assert [e.what for e in queued.events] == ["Queued"]
    assert not is_message_final(queued.message, world.clock.now())

    await run_message_lifecycle(world, client)

    done = await read_message_timeline(world.db, org, message_id)
    steps = [e.what for e in done.events]
    assert steps == ["Queued", "Handed off", "Operator accepted it", "Delivered to the phone"]
    assert done.channel == "simulator" and done.operator_ref
    assert [(p.event, p.status) for p in done.pushes] == [("receipt", "delivered")]
    assert is_message_final(done.message, world.clock.now())


async def test_another_organizations_message_has_no_timeline(world: SmsWorld) -> None:
    org = await world.new_org()
    other = await world.new_org()
    sent = await world.send(org, "639171234000")
    with pytest.raises(MessageNotFound):
        await read_message_timeline(world.db, other, sent.message.message_id)


async def test_the_recipients_replies_in_the_week_after_are_listed_with_the_message(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234000", "Coming tomorrow?", sender="Clinic")
    await world.deliver()
    world.clock.advance(timedelta(minutes=5))
    reply = InboundSms("simulator", "639171234000", "Clinic", "Yes, at nine", world.clock.now())
    await world.events.record_inbound([reply])

    found = await read_message_timeline(world.db, org, sent.message.message_id)

    assert [r.body for r in found.replies] == ["Yes, at nine"]
    [received] = found.replies
    own = await read_message_timeline(world.db, org, received.message_id)
    assert [e.what for e in own.events] == ["Received"] and own.replies == []
