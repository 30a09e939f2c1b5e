"""SMPP receipts that overtake the record of their hand-off, against the test SMSC and a real
database: the SMSC's deliver_sm is answered at once, and the receipt applies with the record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from tambuli.channels.base import HandOff, OutboundSms
from tambuli.channels.config.registry import route_all_to
from tambuli.channels.config.specs import SmppChannelConfig
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.channel import SmppChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import early_receipts
from tambuli.messaging.delivery import Dispatcher
from tambuli.messaging.models import MessageStatus
from tambuli.messaging.receipts import MessageEvents
from tests.channels.test_smpp_channel import send_receipt, wait_until
from tests.services.sms_world import SmsWorld
from tests.support.smsc import TestSmsc


class ReceiptBeforeRecord(SmppChannel):
    """The SMPP channel, the SMSC's receipt for each message taken and recorded before the
    Dispatcher records the hand-off (as when the SMSC answers within milliseconds)."""

    smsc: TestSmsc
    events: MessageEvents
    responses: list[Any]

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        answers = await super().submit(messages)
        for answer in answers:
            text = f"id:{answer.operator_message_id} sub:001 dlvrd:001 stat:UNDELIV err:001"
            delivered = send_receipt(self.smsc, f"{text} text:".encode())
            await wait_until(self.events_waiting.is_set)
            assert await self.poll_events(self.events) == 1
            self.responses.append(await asyncio.wait_for(delivered, 10))
        return answers


@pytest.fixture
async def smsc() -> AsyncIterator[TestSmsc]:
    server = TestSmsc()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_an_smpp_receipt_that_overtakes_its_hand_off_is_answered_and_applied_once(
    fresh_db: Database, clock: FakeClock, smsc: TestSmsc
) -> None:
    world = SmsWorld(fresh_db, clock)
    config = SmppChannelConfig(
        name="smsc-test",
        host="127.0.0.1",
        port=smsc.port,
        system_id="tambuli",
        password=Secret("secret"),
        parts_per_second=1000,
        reconnect_min_seconds=0.1,
    )
    channel = ReceiptBeforeRecord(config, clock)
    channel.smsc, channel.events, channel.responses = smsc, world.events, []
    dispatcher = Dispatcher(fresh_db, clock, route_all_to(channel), world.rules)
    org = await world.new_org()
    sent = await world.send(org, "639171234567")
    await channel.open()
    try:
        await wait_until(lambda: channel.is_bound)
        assert await dispatcher.dispatch_once() == 1
    finally:
        await channel.close()

    [response] = channel.responses
    assert str(response.status) == "CommandStatus.ESME_ROK"  # answered before the record
    stored = await world.message(sent)
    assert (stored.status, stored.receipt) == (MessageStatus.ACCEPTED, "failed")
    async with fresh_db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(early_receipts))).scalar_one()
    assert left == 0
