"""Opting out of campaigns by SMS keyword, and back in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.campaigns import reply_store
from tambuli.campaigns.subscription_intake import subscribe_contact
from tambuli.campaigns.subscriptions import SubscribeRequest
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.errors import ContactOptedOut
from tambuli.organizations.profile import update_profile
from tests.services.campaign_world import CampaignWorld

NUMBER = "639171230042"
DRIP = {
    "name": "Tips",
    "kind": "drip",
    "steps": [{"message": "one"}, {"delay": {"unit": "day", "value": 1}, "message": "two"}],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


@pytest.mark.parametrize("keyword", ["STOP", "stop", " Stop. ", "HINTO", "unsubscribe", "ARRÊT"])
async def test_an_opt_out_keyword_ends_every_active_run_of_the_number(
    world: CampaignWorld, keyword: str
) -> None:
    org = await world.new_campaign_org()
    first = await world.launched(org, DRIP)
    second = await world.launched(org, DRIP)
    one = await world.subscribe(org, first, NUMBER)
    # A second contact with the same number: the person behind the number opted out.
    twin = await contacts.create_contact(
        world.db, world.clock, org, phones.normalise_full_number(NUMBER), ContactInput()
    )
    two = await subscribe_contact(
        world.subscriptions,
        SubscribeRequest(org_id=org, campaign_id=second, contact_id=twin.id, phone=None),
    )
    await world.fire()
    assert await world.reply(NUMBER, keyword) == 1
    for run_id in (one.run_id, two.run_id):
        row = await world.run_row(run_id)
        assert (row.status, row.active_contact_id) == ("opted_out", None)
    with pytest.raises(ContactOptedOut):
        await world.subscribe(org, first, NUMBER)
    await world.advance_to(world.clock.now() + timedelta(days=3))
    assert [s.body for s in await world.sent(NUMBER)] == ["one", "one"]


async def test_start_opts_the_number_back_in(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    await world.subscribe(org, campaign_id, NUMBER)
    await world.fire()
    await world.reply(NUMBER, "STOP")
    with pytest.raises(ContactOptedOut):
        await world.subscribe(org, campaign_id, NUMBER)
    await world.reply(NUMBER, "start")
    again = await world.subscribe(org, campaign_id, NUMBER)
    await world.fire()
    assert (await world.run_row(again.run_id)).steps_sent == 1


async def test_an_organization_may_choose_its_own_keywords(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    await update_profile(world.db, org, opt_out_keywords="TAMA NA,AYAW", opt_in_keywords="GO")
    campaign_id = await world.launched(org, DRIP)
    run = await world.subscribe(org, campaign_id, NUMBER)
    await world.fire()
    await world.reply(NUMBER, "STOP")  # not one of this organization's words any more
    assert (await world.run_row(run.run_id)).status == "active"
    await world.reply(NUMBER, "tama na")
    assert (await world.run_row(run.run_id)).status == "opted_out"
    await world.reply(NUMBER, "GO")
    await world.subscribe(org, campaign_id, NUMBER)


async def test_an_opt_out_in_one_organization_leaves_the_others_alone(
    world: CampaignWorld,
) -> None:
    ours = await world.new_campaign_org()
    theirs = await world.new_campaign_org()
    await update_profile(world.db, theirs, default_sender_id="Clinic")
    our_campaign = await world.launched(ours, DRIP)
    their_campaign = await world.launched(theirs, DRIP)
    our_run = await world.subscribe(ours, our_campaign, NUMBER)
    their_run = await world.subscribe(theirs, their_campaign, NUMBER)
    await world.fire()
    await world.reply(NUMBER, "STOP", to="Clinic")
    assert (await world.run_row(their_run.run_id)).status == "opted_out"
    assert (await world.run_row(our_run.run_id)).status == "active"


async def test_a_number_that_opts_out_while_a_step_is_due_gets_nothing_more(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    run = await world.subscribe(org, campaign_id, NUMBER)
    await world.fire()
    # The opt-out is recorded from another campaign's conversation; this run's next step
    # finds the number opted out when it comes due.
    async with world.db.write() as conn:
        await reply_store.record_opt_out(conn, org, NUMBER, "STOP", world.clock.now())
    await world.advance_to(world.clock.now() + timedelta(days=2))
    row = await world.run_row(run.run_id)
    assert (row.status, row.steps_sent) == ("opted_out", 1)
