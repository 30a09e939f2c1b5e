"""No task holds two database connections at once; an empty pool answers ServerBusy.

A request that holds a connection and asks the pool for a second one waits on requests that do
the same: 30 concurrent sends to contacts once starved a pool of 10 + 20 for good. The send
paths here run on a pool of a single connection (PostgreSQL), where any such request would wait
for itself; on both databases, Database refuses a nested checkout outright.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database, NestedCheckout
from tambuli.db.group_commit import GroupCommit
from tambuli.errors import ServerBusy
from tambuli.messaging.pricing import PriceBook
from tambuli.organizations import service as organizations
from tambuli.organizations.profile import ProfileCache
from tests.services.campaign_world import CampaignWorld

FARMER = "639171234509"
POLL = {
    "name": "Survey",
    "kind": "poll",
    "steps": [
        {
            "message": "Did you plant? 1 Yes 2 No",
            "choices": ["Yes", "No"],
            "retry": "Please answer 1 or 2",
            "maxRetries": 1,
        },
        {"message": "Thanks", "timeout": {"unit": "hour", "value": 1}},
    ],
}


@pytest.fixture
async def one_connection(fresh_db: Database) -> AsyncIterator[Database]:
    """The test's database through a pool of one connection (on PostgreSQL)."""
    db = Database(fresh_db.url, pool_size=1, pool_overflow=0, pool_wait_seconds=1.0)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def world(one_connection: Database, clock: FakeClock) -> CampaignWorld:
    """Campaigns and SMS on the one-connection pool, with caches that are always stale."""
    return CampaignWorld(one_connection, clock)


async def test_a_task_holding_a_connection_is_refused_a_second_one(fresh_db: Database) -> None:
    async with fresh_db.write():
        with pytest.raises(NestedCheckout):
            async with fresh_db.read():
                pass
    async with fresh_db.read():
        with pytest.raises(NestedCheckout):
            async with fresh_db.read_single():
                pass
    async with fresh_db.read_single():
        with pytest.raises(NestedCheckout):
            async with fresh_db.write():
                pass
    # Once the first is given back, the task may take one again.
    async with fresh_db.read():
        pass


async def test_a_task_started_while_holding_a_connection_is_refused_one_too(
    fresh_db: Database,
) -> None:
    # A cache load started from inside a transaction runs as a task of its own, and the
    # transaction waits for it: the same wait for a second connection.
    async def load() -> None:
        async with fresh_db.read():
            pass

    async with fresh_db.write():
        with pytest.raises(NestedCheckout):
            await asyncio.create_task(load())


async def test_a_task_holding_a_connection_is_refused_waits_on_other_tasks_connections(
    fresh_db: Database, clock: FakeClock
) -> None:
    # Cache loads and batch writers run on another task's connection; waiting for them while
    # holding one starves the pool just the same. Refused even when the caches are fresh.
    prices, profiles, commits = PriceBook(fresh_db), ProfileCache(fresh_db), GroupCommit(fresh_db)
    org = (await organizations.create_organization(fresh_db, clock, "Held")).org_id
    assert await prices.price_for("PH", FARMER) is not None
    await profiles.get(org)
    async with fresh_db.write() as conn:
        with pytest.raises(NestedCheckout):
            await prices.price_for("PH", FARMER)
        with pytest.raises(NestedCheckout):
            await profiles.get(org)
        with pytest.raises(NestedCheckout):
            await commits.run(lambda _: asyncio.sleep(0))
        # On the transaction's own connection, they answer.
        assert await prices.price_for_within(conn, "PH", FARMER) is not None
        assert (await profiles.get_within(conn, org)).org_id == org


async def test_tasks_each_holding_one_connection_run_side_by_side(fresh_db: Database) -> None:
    both_in = asyncio.Barrier(2)

    async def hold() -> None:
        async with fresh_db.read():
            await both_in.wait()

    await asyncio.gather(hold(), hold())


async def test_a_send_to_a_new_contact_with_stale_caches_needs_one_connection(
    world: CampaignWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, FARMER, use_contacts=True)
    assert sent.message.contact_id is not None
    assert (await world.message(sent)).recipient == FARMER


async def test_campaign_steps_and_replies_with_stale_caches_need_one_connection(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    await world.subscribe(org, campaign_id, FARMER)
    assert await world.fire() == 1
    world.clock.advance(timedelta(minutes=5))
    # An answer that is no choice is retried: the reply handler queues a message itself.
    assert await world.reply(FARMER, "banana") == 1
    assert await world.reply(FARMER, "1") == 1
    await world.fire()
    assert [s.body for s in await world.sent(FARMER)] == [
        "Did you plant? 1 Yes 2 No",
        "Please answer 1 or 2",
        "Thanks",
    ]


# The pool's size is a PostgreSQL setting (SQLite's pool is fixed; engine.py says why).
@pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_pool_that_stays_empty_answers_server_busy(fresh_db: Database) -> None:
    db = Database(fresh_db.url, pool_size=1, pool_overflow=0, pool_wait_seconds=0.05)
    holding = asyncio.Event()
    done = asyncio.Event()

    async def hold() -> None:
        async with db.read():
            holding.set()
            await done.wait()

    holder = asyncio.create_task(hold())
    try:
        await holding.wait()
        with pytest.raises(ServerBusy):
            async with db.read():
                pass
    finally:
        done.set()
        await holder
    # The connection is back: the next request gets it.
    async with db.read():
        pass
    await db.dispose()
