"""What each run change writes on its run: the move's columns, and the fields it names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.campaigns import store
from tambuli.campaigns.models import RunStatus
from tambuli.campaigns.run_changes import AwaitReply, Ended, FireAt, NextStep, Paused, RunChange
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tests.services.campaign_world import CampaignWorld

DRIP = {
    "name": "Two steps",
    "kind": "drip",
    "steps": [
        {"message": "Welcome"},
        {"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "Day 1"},
    ],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


async def new_runs(world: CampaignWorld, count: int) -> list[int]:
    """`count` active runs of one drip campaign, each of its own contact."""
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    return [
        (await world.subscribe(org, campaign_id, f"63917123{i:04d}")).run_id for i in range(count)
    ]


async def update_runs(world: CampaignWorld, changes: list[RunChange]) -> None:
    """Store the changes in one transaction."""
    async with world.db.write() as conn:
        await store.update_runs(conn, changes)


async def test_an_ended_run_frees_its_contact_and_keeps_its_last_error(
    world: CampaignWorld,
) -> None:
    [run_id] = await new_runs(world, 1)
    now = world.clock.now()
    await update_runs(world, [RunChange(run_id, last_error="earlier trouble")])
    await update_runs(world, [RunChange(run_id, Ended(RunStatus.DONE, now, step_index=2))])
    row = await world.run_row(run_id)
    assert (row.status, row.step_index, row.ended_at) == ("done", 2, now)
    assert (row.active_contact_id, row.next_fire_at, row.awaiting_reply) == (None, None, False)
    # A field the change leaves None stays as stored.
    assert row.last_error == "earlier trouble"


async def test_each_move_sets_its_columns_and_the_fields_named_are_stored(
    world: CampaignWorld,
) -> None:
    asked, stepped, retried, paused = await new_runs(world, 4)
    now = world.clock.now()
    later = now + timedelta(hours=2)
    await update_runs(world, [RunChange(asked, invalid_replies=2)])
    before = await world.run_row(retried)
    await update_runs(
        world,
        [
            RunChange(asked, AwaitReply(now, later), steps_sent=1, last_message_id=7),
            RunChange(stepped, NextStep(1, later), attempts=0, last_error=""),
            RunChange(retried, FireAt(later), attempts=1, last_error="balance: low"),
            RunChange(paused, Paused(), with_failures=True),
        ],
    )
    row = await world.run_row(asked)
    assert (row.awaiting_reply, row.invalid_replies) == (True, 0)
    assert (row.step_due_at, row.next_fire_at) == (now, later)
    assert (row.steps_sent, row.last_message_id, row.status) == (1, 7, "active")

    row = await world.run_row(stepped)
    assert (row.step_index, row.step_due_at, row.next_fire_at) == (1, later, later)
    assert (row.awaiting_reply, row.attempts, row.last_error) == (False, 0, "")

    # A later try of the same step changes only when it fires.
    row = await world.run_row(retried)
    assert (row.next_fire_at, row.attempts, row.last_error) == (later, 1, "balance: low")
    assert (row.step_index, row.step_due_at) == (before.step_index, before.step_due_at)

    row = await world.run_row(paused)
    assert (row.status, row.with_failures, row.ended_at) == ("paused", True, None)
