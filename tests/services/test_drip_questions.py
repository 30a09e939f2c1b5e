"""A drip campaign whose step is a poll question: sent by the drip's delays, answered as in a
poll, the step after it counted from the answer (or the timeout), the answers in the report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.campaigns import reports
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tests.services.campaign_world import CampaignWorld

ANSWERS, SILENT = "639171233001", "639171233002"
DRIP_WITH_QUESTION = {
    "name": "Vaccination follow-up",
    "kind": "drip",
    "steps": [
        {"message": "Welcome to the vaccination drive"},
        {
            "delay": {"unit": "hour", "value": 1},
            "message": "Will you come on Saturday? YES or NO",
            "choices": ["YES", {"value": "NO", "words": ["HINDI"]}],
            "timeout": {"unit": "hour", "value": 2},
        },
        {"delay": {"unit": "minute", "value": 30}, "message": "See you"},
    ],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


async def test_a_drip_question_is_sent_by_its_delay_and_the_next_step_counts_from_the_answer(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP_WITH_QUESTION)
    start = world.clock.now()
    subscribed = await world.subscribe(org, campaign_id, ANSWERS)
    await world.fire()
    assert [s.body for s in await world.sent(ANSWERS)] == ["Welcome to the vaccination drive"]

    await world.advance_to(start + timedelta(minutes=59))
    assert len(await world.sent(ANSWERS)) == 1
    await world.advance_to(start + timedelta(hours=1))
    sent = await world.sent(ANSWERS)
    assert [s.body for s in sent] == [
        "Welcome to the vaccination drive",
        "Will you come on Saturday? YES or NO",
    ]
    # While the question is open the step after it has no moment yet.
    schedule = await reports.read_schedule(world.db, org, campaign_id, subscribed.run_id)
    assert [(s.index, s.due_at) for s in schedule.steps] == [(2, None)]

    world.clock.advance(timedelta(minutes=20))
    answered_at = world.clock.now()
    assert await world.reply(ANSWERS, "yes") == 1
    await world.advance_to(answered_at + timedelta(minutes=29))
    assert len(await world.sent(ANSWERS)) == 2
    await world.advance_to(answered_at + timedelta(minutes=30))
    last = (await world.sent(ANSWERS))[-1]
    assert (last.body, last.created_at) == ("See you", answered_at + timedelta(minutes=30))
    assert (await world.run_row(subscribed.run_id)).status == "done"

    answers = await reports.list_answers(world.db, org, campaign_id, None, 0, 100)
    assert [(a.step_index, a.answer, a.reply) for _, a in answers] == [(1, "YES", "yes")]


async def test_an_unanswered_drip_question_times_out_and_the_report_charts_the_answers(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP_WITH_QUESTION)
    start = world.clock.now()
    await world.subscribe(org, campaign_id, ANSWERS)
    silent = await world.subscribe(org, campaign_id, SILENT)
    await world.advance_to(start + timedelta(hours=1, minutes=5))
    await world.reply(ANSWERS, "Hindi")
    await world.reply(SILENT, "what?")  # an invalid answer: the question is sent again

    # The silent number's question was sent at 1 h and times out at 3 h; "See you" 30 min later.
    await world.advance_to(start + timedelta(hours=3, minutes=29))
    assert [s.body for s in await world.sent(SILENT)][-1] == "Will you come on Saturday? YES or NO"
    await world.advance_to(start + timedelta(hours=3, minutes=30))
    last = (await world.sent(SILENT))[-1]
    assert (last.body, last.created_at) == ("See you", start + timedelta(hours=3, minutes=30))
    assert (await world.run_row(silent.run_id)).status == "done"

    report = await reports.read_campaign_report(world.db, org, campaign_id)
    assert report.runs_by_status == {"done": 2}
    assert report.steps_sent == [2, 2, 2]
    [question] = report.questions
    assert (question.step_index, question.answers, question.other) == (
        1,
        [("YES", 0), ("NO", 1)],
        0,
    )
