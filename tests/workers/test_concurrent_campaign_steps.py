"""Several campaign schedulers on one database: every step is sent exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete

from tambuli.campaigns.firing import fire_due_steps
from tambuli.campaigns.subscriptions import NewSubscriber, subscribe_many
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.db.schema import campaign_runs
from tambuli.errors import ActiveSubscription
from tambuli.messaging.intake import SmsIntake
from tambuli.messaging.pricing import PriceBook
from tambuli.messaging.sending import Outbox
from tambuli.organizations.profile import ProfileCache
from tests.services.campaign_world import CampaignWorld

CONTACTS = 300
DRIP = {
    "name": "Three steps",
    "kind": "drip",
    "steps": [
        {"message": "one"},
        {"delay": {"unit": "hour", "value": 1}, "message": "two"},
        {"delay": {"unit": "hour", "value": 1}, "message": "three"},
    ],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


# Several scheduler processes are a PostgreSQL deployment; SQLite has one process.
@pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_four_schedulers_sharing_the_runs_send_each_step_exactly_once(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org(balance_micro=1_000_000_000)
    campaign_id = await world.launched(org, DRIP)
    subscribers = [
        NewSubscriber(phone=phones.normalise_full_number(f"6391755{i:04d}9"))
        for i in range(CONTACTS)
    ]
    await subscribe_many(world.db, world.clock, org, campaign_id, subscribers, reuse_newest=False)
    # Each scheduler has its own Database (its own connections), as separate processes would.
    databases = [Database(world.db.url) for _ in range(4)]
    try:
        outboxes = [
            Outbox(db, world.clock, PriceBook(db), ProfileCache(db), SmsIntake(db, world.clock))
            for db in databases
        ]

        async def work(outbox: Outbox) -> int:
            fired = 0
            while (
                found := await fire_due_steps(
                    outbox, limit=20, lease_seconds=60, skip_locked=not outbox.db.is_sqlite
                )
            ) > 0:
                fired += found
            return fired

        for _ in range(3):
            fired = await asyncio.gather(*(work(o) for o in outboxes))
            assert sum(fired) == CONTACTS
            world.clock.advance(timedelta(hours=1))
    finally:
        for db in databases:
            await db.dispose()
    sent = await world.sent()
    per_run_and_text = Counter((s.run_id, s.body) for s in sent)
    assert len(per_run_and_text) == CONTACTS * 3
    assert set(per_run_and_text.values()) == {1}
    assert await world.balance(org) == 1_000_000_000 - CONTACTS * 3 * 20_000


@pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_batches_sharing_contacts_in_opposite_orders_never_deadlock(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    numbers = [phones.normalise_full_number(f"6391766{i:04d}9") for i in range(600)]
    created = await subscribe_many(
        world.db,
        world.clock,
        org,
        await world.launched(org, DRIP),
        [NewSubscriber(phone=p) for p in numbers],
        reuse_newest=False,
    )
    ids = [c.id for c in created]
    databases = [Database(world.db.url) for _ in range(2)]
    try:

        async def subscribe(db: Database, order: list[int]) -> str:
            try:
                await subscribe_many(
                    db,
                    world.clock,
                    org,
                    campaign_id,
                    [NewSubscriber(contact_id=c) for c in order],
                    reuse_newest=False,
                )
            except ActiveSubscription:
                return "refused"
            return "subscribed"

        for _ in range(3):
            outcomes = await asyncio.gather(
                subscribe(databases[0], ids), subscribe(databases[1], ids[::-1])
            )
            assert sorted(outcomes) in (["refused", "subscribed"], ["refused", "refused"])
            async with world.db.write() as conn:
                await conn.execute(
                    delete(campaign_runs).where(campaign_runs.c.campaign_id == campaign_id)
                )
    finally:
        for db in databases:
            await db.dispose()
