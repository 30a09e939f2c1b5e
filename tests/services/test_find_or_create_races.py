"""Concurrent find-or-create: many requests for one new key make one contact, field or run.

Each request runs in its own transaction on its own connection, as concurrent API requests
(or several API processes) do; on PostgreSQL they really overlap, on SQLite the writers queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from tambuli.campaigns.subscriptions import NewSubscriber, subscribe_many
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput, CustomField
from tambuli.db.engine import Database
from tambuli.db.schema import campaign_runs
from tambuli.errors import ActiveSubscription
from tambuli.messaging.intake import SmsIntake
from tambuli.messaging.pricing import PriceBook
from tambuli.messaging.sending import Outbox
from tambuli.organizations.profile import ProfileCache
from tests.conftest import OrgFactory
from tests.services.campaign_world import CampaignWorld
from tests.services.sms_world import PRICE

# Enough to overlap many transactions on PostgreSQL, within its pool of 30 connections.
CONCURRENT = 30
NUMBER = "639171239876"
WELCOME = {"name": "Welcome", "kind": "drip", "steps": [{"message": "Welcome!"}]}
T = TypeVar("T")


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own, its prices read once only.

    Prices are cached for good so that no request reads them again halfway through: each
    request must hold a single connection while the race runs.
    """
    world = CampaignWorld(fresh_db, clock)
    world.outbox = Outbox(
        fresh_db,
        clock,
        PriceBook(fresh_db, cache_seconds=float("inf")),
        ProfileCache(fresh_db, cache_seconds=0),
        SmsIntake(fresh_db, clock),
    )
    return world


async def race(call: Callable[[int], Awaitable[T]]) -> list[T | BaseException]:
    """Start CONCURRENT calls at once; each one's result or exception, in order."""
    return await asyncio.gather(*(call(i) for i in range(CONCURRENT)), return_exceptions=True)


def split(outcomes: list[T | BaseException]) -> tuple[list[T], list[BaseException]]:
    """The results and the exceptions of a race."""
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    return results, refused


async def contact_ids_with(db: Database, org_id: int, number: str) -> list[int]:
    async with db.read() as conn:
        return await contacts.find_contact_ids_with_phone_within(conn, org_id, number)


async def run_count(db: Database, org_id: int) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(campaign_runs.c.org_id == org_id)
        return int((await conn.execute(query)).scalar_one())


async def test_concurrent_subscribes_of_one_new_number_make_one_contact_run_and_welcome(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org(balance_micro=10_000_000)
    campaign_id = await world.launched(org, WELCOME)

    results, refused = split(await race(lambda _: world.subscribe(org, campaign_id, NUMBER)))

    found = await contact_ids_with(world.db, org, NUMBER)
    assert len(found) == 1, f"{len(found)} contacts with the number"
    [contact_id] = found
    assert [r.contact_id for r in results] == [contact_id]
    assert all(isinstance(e, ActiveSubscription) for e in refused), refused
    assert await run_count(world.db, org) == 1
    await world.fire()
    assert [t.body for t in await world.sent(NUMBER)] == ["Welcome!"]
    assert await world.balance(org) == 10_000_000 - PRICE


async def test_concurrent_legacy_subscribes_reusing_the_newest_contact_make_one_contact_and_run(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org(balance_micro=10_000_000)
    campaign_id = await world.launched(org, WELCOME)
    entry = NewSubscriber(phone=phones.normalise_full_number(NUMBER))

    async def subscribe(_: int) -> list[Any]:
        return await subscribe_many(
            world.db, world.clock, org, campaign_id, [entry], reuse_newest=True
        )

    results, refused = split(await race(subscribe))

    found = await contact_ids_with(world.db, org, NUMBER)
    assert len(found) == 1, f"{len(found)} contacts with the number"
    [contact_id] = found
    assert [[c.id for c in r] for r in results] == [[contact_id]]
    assert all(isinstance(e, ActiveSubscription) for e in refused), refused
    assert await run_count(world.db, org) == 1
    await world.fire()
    assert len(await world.sent(NUMBER)) == 1


async def test_concurrent_sends_to_one_new_number_as_a_contact_create_it_once(
    world: CampaignWorld,
) -> None:
    org = await world.new_org(balance_micro=10_000_000)
    # Read the prices before the race, so no request reads them in the middle of it.
    await world.send(org, "639171230000")

    results, refused = split(
        await race(lambda i: world.send(org, NUMBER, f"Hello {i}", use_contacts=True))
    )

    assert refused == []
    found = await contact_ids_with(world.db, org, NUMBER)
    assert len(found) == 1, f"{len(found)} contacts with the number"
    [contact_id] = found
    assert {sent.message.contact_id for sent in results} == {contact_id}
    assert len(results) == CONCURRENT


async def fields_named(db: Database, org_id: int, name: str) -> list[CustomField]:
    return [f for f in await contacts.list_custom_fields(db, org_id) if f.name.lower() == name]


async def test_concurrent_contact_creates_with_a_new_field_name_make_one_field(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = (await make_org()).org_id

    async def create(i: int) -> Any:
        phone = phones.normalise_full_number(f"6391712{i:05d}")
        given = ContactInput(custom_fields_by_name={"Barangay": f"place {i}"})
        return await contacts.create_contact(db, clock, org, phone, given)

    created, refused = split(await race(create))

    assert refused == []
    found = await fields_named(db, org, "barangay")
    assert len(found) == 1, f"{len(found)} fields named barangay"
    [field] = found
    assert {c.phone: c.custom_fields for c in created} == {
        f"6391712{i:05d}": {field.id: f"place {i}"} for i in range(CONCURRENT)
    }


async def test_concurrent_contact_updates_with_a_new_field_name_make_one_field(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = (await make_org()).org_id
    ids = [
        (
            await contacts.create_contact(
                db, clock, org, phones.normalise_full_number(f"6391713{i:05d}"), ContactInput()
            )
        ).id
        for i in range(CONCURRENT)
    ]

    async def update(i: int) -> Any:
        given = ContactInput(custom_fields_by_name={"Crop": f"crop {i}"})
        return await contacts.update_contact(db, clock, org, ids[i], given)

    updated, refused = split(await race(update))

    assert refused == []
    found = await fields_named(db, org, "crop")
    assert len(found) == 1, f"{len(found)} fields named crop"
    [field] = found
    assert {c.id: c.custom_fields for c in updated} == {
        ids[i]: {field.id: f"crop {i}"} for i in range(CONCURRENT)
    }


async def test_concurrent_creates_of_one_custom_field_name_make_one_field(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = (await make_org()).org_id
    spellings = ["Province", "PROVINCE", "province"]

    created, refused = split(
        await race(
            lambda i: contacts.create_custom_field(db, clock, org, spellings[i % len(spellings)])
        )
    )

    assert refused == []
    found = await fields_named(db, org, "province")
    assert len(found) == 1, f"{len(found)} fields named province"
    [field] = found
    assert {f.id for f in created} == {field.id}
