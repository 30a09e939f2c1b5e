"""Kept WhatsApp statuses whose message's record raced them are applied by the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.channels.whatsapp.base import WhatsAppState
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.whatsapp import store
from tambuli.whatsapp.statuses import EARLY_STATUS_KEEP, sweep_early_statuses
from tests.services.whatsapp_world import WhatsAppWorld


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> WhatsAppWorld:
    """The WhatsApp world on a database of the test's own."""
    return WhatsAppWorld(fresh_db, clock)


async def _keep(world: WhatsAppWorld, wamid: str, state: WhatsAppState) -> None:
    """A status kept as if its webhook had not seen the message's record yet."""
    async with world.db.write() as conn:
        await store.insert_early_statuses(
            conn,
            [
                {
                    "channel": "simulator",
                    "operator_message_id": wamid,
                    "state": state.value,
                    "error": "",
                    "at": world.clock.now(),
                }
            ],
        )


async def test_a_status_kept_while_its_hand_off_was_recorded_is_applied_by_the_sweep(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, "639171230000")
    await world.deliver()
    handed = await world.message(sent)
    assert handed.handed_at is not None and handed.state == ""
    # The simulator's wamid of a message's first attempt.
    await _keep(world, f"wamid.sim-{sent.id}-1", WhatsAppState.READ)

    assert await sweep_early_statuses(world.db, world.clock) == 1
    swept = await world.message(sent)
    assert swept.state == "read" and swept.read_at == world.clock.now()
    assert await sweep_early_statuses(world.db, world.clock) == 0


async def test_a_status_no_message_claims_within_a_day_is_forgotten(
    world: WhatsAppWorld,
) -> None:
    await _keep(world, "wamid.never-sent", WhatsAppState.DELIVERED)
    assert await sweep_early_statuses(world.db, world.clock) == 0
    world.clock.advance(EARLY_STATUS_KEEP + timedelta(seconds=1))
    assert await sweep_early_statuses(world.db, world.clock) == 1
    async with world.db.read() as conn:
        assert not await store.any_early_statuses(conn)
