"""A campaign's report: runs by status, runs that sent each step, answers by question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tests.services.campaign_world import CampaignWorld

POLL = {
    "name": "Harvest survey",
    "kind": "poll",
    "steps": [
        {"message": "Did you plant? 1 Yes 2 No", "choices": ["Yes", "No"]},
        {"message": "What did you plant?", "onTimeout": "end"},
    ],
}
FARMERS = ("639171231001", "639171231002", "639171231003")


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    return CampaignWorld(fresh_db, clock)


async def test_the_report_counts_runs_steps_and_answers_in_the_choices_order(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    for number in FARMERS:
        await world.subscribe(org, campaign_id, number)
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    await world.reply(FARMERS[0], "no")
    await world.reply(FARMERS[1], "2")
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    await world.reply(FARMERS[0], "Rice")
    await world.fire()

    report = await reports.read_campaign_report(world.db, org, campaign_id)
    assert report.runs_by_status == {"active": 2, "done": 1}
    assert report.steps_sent == [3, 2]
    [yes_no, open_question] = report.questions
    assert (yes_no.step_index, yes_no.answers, yes_no.other) == (0, [("Yes", 0), ("No", 2)], 0)
    assert (open_question.step_index, open_question.answers) == (1, [("Rice", 1)])


async def test_an_open_question_shows_its_most_given_answers_and_counts_the_rest_as_other(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(
        org, {"name": "Open", "kind": "poll", "steps": [{"message": "Any comment?"}]}
    )
    numbers = [f"6391712320{i:02d}" for i in range(reports.MAX_ANSWERS_SHOWN + 3)]
    for number in numbers:
        await world.subscribe(org, campaign_id, number)
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    for i, number in enumerate(numbers):
        await world.reply(number, "good" if i < 3 else f"comment {i:02d}")
    [question] = (await reports.read_campaign_report(world.db, org, campaign_id)).questions
    assert question.answers[0] == ("good", 3)
    assert len(question.answers) == reports.MAX_ANSWERS_SHOWN
    assert question.other == 1  # 13 different answers, the last one as "other"


async def test_a_schedule_preview_plans_a_subscription_starting_now_without_making_it(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"message": "Welcome"},
        {"delay": {"unit": "day", "value": 1, "time": "09:00", "country": "PH"}, "message": "Tip"},
    ]
    campaign_id = await world.launched(org, {"name": "Tips", "kind": "drip", "steps": steps})
    contact = await contacts.create_contact(
        world.db, world.clock, org, phones.normalise_full_number(FARMERS[0]), ContactInput()
    )
    world.clock.set(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    preview = await reports.preview_schedule(world.db, world.clock, org, campaign_id, contact.id)
    assert preview.zone.key == "Asia/Manila"
    assert [(p.index, p.due_at) for p in preview.steps] == [
        (0, datetime(2026, 3, 2, 4, 0, tzinfo=UTC)),
        (1, datetime(2026, 3, 3, 1, 0, tzinfo=UTC)),
    ]
    assert await campaigns.count_runs(world.db, campaign_id) == {}
