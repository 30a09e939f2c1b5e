"""Campaign runs in awkward moments: unplannable runs, late steps, keywords that are answers,
paused polls, stale replies, and messages still queued when a number opts out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.replies import handle_replies
from tambuli.channels.base import InboundSms
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import campaign_runs, messages
from tests.services.campaign_world import CampaignWorld

MANILA = ZoneInfo("Asia/Manila")
ONE, TWO = "639171230042", "639171230052"


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


def manila(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An aware Manila moment, in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=MANILA).astimezone(UTC)


DRIP = {
    "name": "Tips",
    "kind": "drip",
    "steps": [
        {"message": "one"},
        {"delay": {"unit": "day", "value": 1, "relative": "initial"}, "message": "two"},
    ],
}


async def test_a_run_that_cannot_be_planned_fails_alone_and_the_others_go_on(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    broken = await world.subscribe(org, campaign_id, ONE)
    healthy = await world.subscribe(org, campaign_id, TWO)
    # A start at the calendar's end: "a day after the start" has no moment.
    async with world.db.write() as conn:
        await conn.execute(
            update(campaign_runs)
            .where(campaign_runs.c.id == broken.run_id)
            .values(started_at=datetime(9999, 12, 31, 12, tzinfo=UTC))
        )
    await world.advance_to(world.clock.now() + timedelta(days=2))
    row = await world.run_row(broken.run_id)
    assert row.status == "error" and "cannot be planned" in row.last_error
    assert [s.body for s in await world.sent(TWO)] == ["one", "two"]
    assert (await world.run_row(healthy.run_id)).status == "done"


async def test_a_step_due_outside_the_window_after_a_relaunch_waits_for_it(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    definition = {
        **DRIP,
        "sendingWindow": {"from": "08:00", "until": "20:00"},
        "steps": [{"message": "one"}, {"delay": {"unit": "hour", "value": 1}, "message": "two"}],
    }
    campaign_id = await world.launched(org, definition)
    world.clock.set(manila(2026, 1, 5, 18, 0))
    await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    await campaigns.stop_campaign(world.db, world.clock, org, campaign_id)
    world.clock.set(manila(2026, 1, 5, 23, 30))
    await campaigns.launch_campaign(world.db, world.clock, org, campaign_id)
    await world.advance_to(manila(2026, 1, 6, 12, 0))
    assert [(s.body, s.created_at) for s in await world.sent(ONE)] == [
        ("one", manila(2026, 1, 5, 18, 0)),
        ("two", manila(2026, 1, 6, 8, 0)),
    ]


async def test_a_message_queued_just_before_the_window_closes_expires_with_it(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    definition = {**DRIP, "sendingWindow": {"from": "08:00", "until": "20:00"}}
    campaign_id = await world.launched(org, definition)
    world.clock.set(manila(2026, 1, 5, 19, 59) + timedelta(seconds=30))
    await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    async with world.db.read() as conn:
        deadline = (await conn.execute(select(messages.c.deadline_at))).scalar_one()
    assert deadline == manila(2026, 1, 5, 20, 0)


async def test_reminder_steps_missed_while_stopped_are_skipped_not_burst(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"delay": {"unit": "day", "value": 3, "time": "09:00"}, "before": True, "message": "3d"},
        {"delay": {"unit": "day", "value": 1, "time": "09:00"}, "before": True, "message": "1d"},
        {"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "after"},
    ]
    definition = {"name": "Clinic", "kind": "reminder", "steps": steps}
    campaign_id = await world.launched(org, definition)
    await world.subscribe(
        org, campaign_id, ONE, args={"date": "2026-01-20"}, time_zone="Asia/Manila"
    )
    await campaigns.stop_campaign(world.db, world.clock, org, campaign_id)
    world.clock.set(manila(2026, 1, 20, 11, 0))
    await campaigns.launch_campaign(world.db, world.clock, org, campaign_id)
    await world.advance_to(manila(2026, 1, 25, 0, 0))
    assert [(s.body, s.created_at) for s in await world.sent(ONE)] == [
        ("after", manila(2026, 1, 21, 9, 0))
    ]


POLL = {
    "name": "Price",
    "kind": "poll",
    "steps": [
        {"message": "Price: alta or baja?", "choices": ["Alta", "Baja"]},
        {"message": "Thanks. Any comment?"},
    ],
}


async def test_a_choice_that_is_also_an_opt_out_word_is_an_answer(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    run = await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    await world.reply(ONE, "Baja")
    answers = await reports.list_answers(world.db, org, campaign_id, run.run_id, 0, 10)
    assert [a.answer for _, a in answers] == ["Baja"]
    assert (await world.run_row(run.run_id)).status == "active"
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    await world.reply(ONE, "STOP")  # an open question: the keyword still opts out
    assert (await world.run_row(run.run_id)).status == "opted_out"


async def test_an_answer_while_the_campaign_is_stopped_counts_and_waits_for_the_relaunch(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    run = await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    await campaigns.stop_campaign(world.db, world.clock, org, campaign_id)
    world.clock.advance(timedelta(minutes=1))
    await world.reply(ONE, "2")
    await world.fire()
    assert [s.body for s in await world.sent(ONE)] == ["Price: alta or baja?"]
    row = await world.run_row(run.run_id)
    assert (row.status, row.step_index, row.awaiting_reply) == ("paused", 1, False)
    await campaigns.launch_campaign(world.db, world.clock, org, campaign_id)
    await world.fire()
    assert [s.body for s in await world.sent(ONE)][-1] == "Thanks. Any comment?"


async def test_a_reply_older_than_the_question_does_not_answer_it(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    run = await world.subscribe(org, campaign_id, ONE)
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    answered_at = world.clock.now()
    await world.reply(ONE, "1")
    world.clock.advance(timedelta(minutes=1))
    await world.fire()  # the second question goes out now
    # A second "1" that arrived with the first, handled only after the next question went out.
    await world.events.record_inbound(
        [InboundSms(sender=ONE, recipient="Tambuli", body="1", at=answered_at, channel="t")]
    )
    await handle_replies(world.outbox, limit=10, skip_locked=not world.db.is_sqlite)
    answers = await reports.list_answers(world.db, org, campaign_id, run.run_id, 0, 10)
    assert [(a.step_index, a.answer) for _, a in answers] == [(0, "Alta")]


async def test_an_opt_out_fails_and_refunds_the_runs_messages_still_queued(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    run = await world.subscribe(org, campaign_id, ONE)
    await world.fire()  # "one" is queued, not yet handed to the operator
    before = await world.balance(org)
    world.clock.advance(timedelta(seconds=1))
    await world.reply(ONE, "STOP", to="Tambuli")
    async with world.db.read() as conn:
        rows = (await conn.execute(select(messages.c.status, messages.c.error))).all()
    assert [tuple(r) for r in rows if r[0] != "received"] == [
        ("failed", "the contact's number opted out")
    ]
    assert await world.balance(org) == before + 20_000
    assert await world.deliver() == 0
    status = (
        await reports.read_subscription_statuses(world.db, org, campaign_id, [run.contact_id])
    )[run.contact_id]
    assert (status.error, status.with_failures) == (1, 1)
