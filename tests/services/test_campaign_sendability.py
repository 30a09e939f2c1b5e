"""A campaign that cannot send is refused at launch and at subscription; a run whose step is
refused for good ends in error, in the runs listing and in the contact's subscription status."""

from __future__ import annotations

import pytest

from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.models import CampaignState, RunStatus
from tambuli.campaigns.subscription_intake import SubscriptionIntake
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import MessageTooLong, MissingSender
from tambuli.organizations.profile import update_profile
from tests.services.campaign_world import CampaignWorld

ONE, TWO = "639171230062", "639171230072"
# The smallest campaign a client can create: no sender anywhere in it.
BLAST = {"name": "News", "kind": "blast", "steps": [{"message": "Market day is Friday"}]}
DRIP = {
    "name": "Tips",
    "kind": "drip",
    "steps": [
        {"message": "Hello {{contact.firstName}}" + " and welcome" * 200},
        {"delay": {"unit": "day", "value": 1}, "message": "two"},
    ],
}
SHORT_DRIP = {
    "name": "Short tips",
    "kind": "drip",
    "steps": [{"message": "one"}, {"delay": {"unit": "day", "value": 1}, "message": "two"}],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


async def test_launching_a_campaign_with_no_sender_anywhere_is_refused_naming_why(
    world: CampaignWorld,
) -> None:
    org = await world.new_org(10_000_000)
    draft = await campaigns.create_campaign(world.db, world.clock, org, BLAST)
    with pytest.raises(MissingSender) as refused:
        await campaigns.launch_campaign(world.db, world.clock, org, draft.id)
    assert f"Campaign {draft.id} cannot send" in refused.value.message
    assert refused.value.context == {"campaignId": draft.id}
    assert (await campaigns.get_campaign(world.db, org, draft.id)).state is CampaignState.DRAFT
    launched = await campaigns.launch_campaign(
        world.db, world.clock, org, draft.id, server_sender="Tambuli"
    )
    assert launched.state is CampaignState.LAUNCHED


async def test_a_fixed_text_longer_than_an_sms_may_be_is_refused_at_launch(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    long_blast = {**BLAST, "steps": [{"message": "Market day is Friday. " * 100}]}
    draft = await campaigns.create_campaign(world.db, world.clock, org, long_blast)
    with pytest.raises(MessageTooLong) as refused:
        await campaigns.launch_campaign(world.db, world.clock, org, draft.id)
    assert refused.value.context is not None
    assert refused.value.context["field"] == "steps[0]"
    # A text with variables is only known per contact: it is checked when it fires.
    await world.launched(org, DRIP)


async def test_subscribing_to_a_campaign_that_can_no_longer_send_is_refused(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, BLAST)
    await update_profile(world.db, org, default_sender_id="")
    with pytest.raises(MissingSender):
        await world.subscribe(org, campaign_id, ONE)
    assert await world.sent() == []
    world.outbox.default_sender_id = "Tambuli"
    world.subscriptions = SubscriptionIntake(world.db, world.clock, "Tambuli")
    await world.subscribe(org, campaign_id, ONE)  # the server's default would send it
    await world.fire()
    assert [s.body for s in await world.sent(ONE)] == ["Market day is Friday"]


async def test_a_step_refused_for_good_ends_the_run_in_error_everywhere_it_shows(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, SHORT_DRIP)
    failing = await world.subscribe(org, campaign_id, ONE)
    await update_profile(world.db, org, default_sender_id="")
    other = await world.launched(org, {**BLAST, "sender": "COOP"})
    await world.subscribe(org, other, TWO)
    await world.fire()
    row = await world.run_row(failing.run_id)
    assert (row.status, row.steps_sent, row.with_failures) == ("error", 0, True)
    assert row.last_error.startswith("sms.nosender") and row.next_fire_at is None
    assert await world.sent(ONE) == []
    assert [s.body for s in await world.sent(TWO)] == ["Market day is Friday"]
    _, runs = await reports.list_runs(world.db, org, campaign_id, 0, 10, None)
    assert [r.status for r in runs] == [RunStatus.ERROR]
    _, errors = await reports.list_runs(world.db, org, campaign_id, 0, 10, "error")
    assert [r.id for r in errors] == [failing.run_id]
    statuses = await reports.read_subscription_statuses(
        world.db, org, campaign_id, [row.contact_id]
    )
    status = statuses[row.contact_id]
    assert (status.error, status.done, status.in_progress, status.with_failures) == (1, 0, 0, 1)


async def test_a_text_too_long_once_personalised_ends_the_run_in_error(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    run = await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    row = await world.run_row(run.run_id)
    assert row.status == "error" and row.last_error.startswith("sms.toolong")
    assert await world.sent(ONE) == []
