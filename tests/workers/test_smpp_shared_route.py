"""Two workers, each with its own bind to one SMSC, share a route: nothing is submitted twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

from tambuli.channels.config.registry import route_all_to
from tambuli.channels.config.specs import SmppChannelConfig
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.channel import SmppChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import DeliveryRules, Dispatcher
from tests.services.sms_world import SmsWorld
from tests.support.smsc import TestSmsc

MESSAGES = 200


async def test_two_workers_with_their_own_binds_submit_each_message_once(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = SmsWorld(fresh_db, clock)
    org = await world.new_org(balance_micro=100_000_000)
    for i in range(MESSAGES):
        await world.send(org, f"6391712{i:04d}9", f"message {i}")
    smsc = TestSmsc()
    smsc.start()
    config = SmppChannelConfig(
        name="shared",
        host="127.0.0.1",
        port=smsc.port,
        system_id="tambuli",
        password=Secret("secret"),
        parts_per_second=2000,
        reconnect_min_seconds=0.1,
    )
    rules = DeliveryRules(batch_size=20, lease=timedelta(minutes=5))
    # Each worker has its own Database and its own bind, as separate processes would.
    databases = [Database(fresh_db.url) for _ in range(2)]
    channels = [SmppChannel(config, clock) for _ in range(2)]
    try:
        for channel in channels:
            await channel.open()
        deadline = time.monotonic() + 30
        while smsc.count_binds() < 2:
            assert time.monotonic() < deadline, "the SMSC did not see two binds"
            await asyncio.sleep(0.05)
        workers = [
            Dispatcher(db, clock, route_all_to(channel), rules)
            for db, channel in zip(databases, channels, strict=True)
        ]

        async def work(dispatcher: Dispatcher) -> int:
            claimed = 0
            while (found := await dispatcher.dispatch_once()) > 0:
                claimed += found
            return claimed

        claimed = await asyncio.gather(*(work(w) for w in workers))
    finally:
        for channel in channels:
            await channel.close()
        for db in databases:
            await db.dispose()
        smsc.stop()

    assert sum(claimed) == MESSAGES
    assert all(channel.read_health().parts_sent > 0 for channel in channels)
    submitted = Counter(bytes(p.params["short_message"]) for p in smsc.submits)
    assert len(submitted) == MESSAGES
    assert set(submitted.values()) == {1}
    assert await world.balance(org) == 100_000_000 - MESSAGES * 20_000
