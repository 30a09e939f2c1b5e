"""Concurrent single subscriptions share a transaction, and each still gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tambuli.campaigns import service as campaigns
from tambuli.campaigns.reply_store import record_opt_out
from tambuli.campaigns.subscriptions import Subscribed
from tambuli.clock import FakeClock
from tambuli.contacts import service as contacts_service
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.db.schema import campaign_runs, contacts
from tambuli.errors import (
    ActiveSubscription,
    CampaignClosed,
    ContactOptedOut,
    MissingReminderDate,
    TambuliError,
)
from tests.services.campaign_world import CampaignWorld

ONE, TWO, THREE = "639171230042", "639171230052", "639171230062"
DRIP = {"name": "Tips", "kind": "drip", "steps": [{"message": "one"}]}
REMINDER = {
    "name": "Clinic",
    "kind": "reminder",
    "steps": [{"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "after"}],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


async def subscribe_together(
    world: CampaignWorld, *wanted: tuple[int, int, str, dict[str, Any]]
) -> list[Subscribed | TambuliError]:
    """Submit subscriptions at the same moment, so they share one batch; each one's answer."""
    answers = await asyncio.gather(
        *(
            world.subscribe(org, campaign, number, **extra)
            for org, campaign, number, extra in wanted
        ),
        return_exceptions=True,
    )
    for answer in answers:
        if not isinstance(answer, Subscribed | TambuliError):
            raise answer
    return [a for a in answers if isinstance(a, Subscribed | TambuliError)]


async def count_contacts(world: CampaignWorld, number: str) -> int:
    """How many contacts have the number."""
    async with world.db.read() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(contacts).where(contacts.c.phone == number)
        )
    return int(found or 0)


async def count_runs(world: CampaignWorld, campaign_id: int) -> int:
    """How many runs the campaign has."""
    async with world.db.read() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(campaign_runs)
            .where(campaign_runs.c.campaign_id == campaign_id)
        )
    return int(found or 0)


async def test_one_new_number_named_by_many_requests_at_once_gets_one_contact_and_one_run(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    answers = await subscribe_together(world, *[(org, campaign_id, ONE, {})] * 5)
    subscribed = [a for a in answers if isinstance(a, Subscribed)]
    assert len(subscribed) == 1
    assert all(isinstance(a, ActiveSubscription) for a in answers if a not in subscribed)
    assert await count_contacts(world, ONE) == 1
    assert await count_runs(world, campaign_id) == 1


async def test_one_new_number_in_two_campaigns_at_once_is_one_contact_in_both(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    first = await world.launched(org, DRIP)
    second = await world.launched(org, DRIP)
    answers = await subscribe_together(world, (org, first, ONE, {}), (org, second, ONE, {}))
    assert all(isinstance(a, Subscribed) for a in answers)
    assert len({a.contact_id for a in answers if isinstance(a, Subscribed)}) == 1
    assert await count_contacts(world, ONE) == 1


async def test_a_refusal_found_after_writing_refuses_only_its_own_subscription(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, REMINDER)
    group = await contacts_service.create_group(world.db, world.clock, org, "Mothers")
    answers = await subscribe_together(
        world,
        (org, campaign_id, ONE, {"args": {"date": "2027-01-20"}}),
        # No date: refused only once its contact (with a group) was written in the batch.
        (org, campaign_id, TWO, {"contact": _with_group(group.id)}),
        (org, campaign_id, THREE, {"args": {"date": "2027-02-20"}}),
    )
    assert isinstance(answers[0], Subscribed) and isinstance(answers[2], Subscribed)
    assert isinstance(answers[1], MissingReminderDate)
    assert await count_contacts(world, TWO) == 0  # the refused request changed nothing
    assert await count_runs(world, campaign_id) == 2


async def test_a_closed_campaign_or_an_opted_out_number_refuses_only_its_subscription(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    open_one = await world.launched(org, DRIP)
    stopped = await world.launched(org, DRIP)
    await campaigns.stop_campaign(world.db, world.clock, org, stopped)
    async with world.db.write() as conn:
        await record_opt_out(conn, org, THREE, "STOP", world.clock.now())
    answers = await subscribe_together(
        world,
        (org, stopped, ONE, {}),
        (org, open_one, TWO, {}),
        (org, open_one, THREE, {}),
    )
    assert isinstance(answers[0], CampaignClosed)
    assert isinstance(answers[1], Subscribed)
    assert isinstance(answers[2], ContactOptedOut)
    assert await count_contacts(world, ONE) == 0
    assert await count_contacts(world, THREE) == 0
    assert await count_runs(world, open_one) == 1


async def test_an_existing_contact_gets_the_fields_its_subscription_gives(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    first = await world.launched(org, DRIP)
    second = await world.launched(org, DRIP)
    group = await contacts_service.create_group(world.db, world.clock, org, "Farmers")
    one = await world.subscribe(org, first, ONE)
    [again] = await subscribe_together(
        world, (org, second, ONE, {"contact": _with_group(group.id)})
    )
    assert isinstance(again, Subscribed) and again.contact_id == one.contact_id
    contact = await contacts_service.get_contact(world.db, org, one.contact_id)
    assert (contact.first_name, list(contact.groups)) == ("Ana", [group.id])


def _with_group(group_id: int) -> ContactInput:
    return ContactInput(first_name="Ana", groups=[group_id])
