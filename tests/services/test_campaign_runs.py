"""Campaign runs on a fake clock: drip, reminder, poll, quiet hours, stop and relaunch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tambuli.billing import service as billing
from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.subscriptions import unsubscribe_contact
from tambuli.clock import FakeClock
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tests.services.campaign_world import CampaignWorld

MANILA = ZoneInfo("Asia/Manila")
NEW_YORK = ZoneInfo("America/New_York")
FARMER = "639171230042"
FARMER_NY = "12125550142"
OTHER, THIRD = "639171230142", "639171230242"
BLAST = {"message": "Market day"}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An aware local moment, in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


DRIP = {
    "name": "Rice advice",
    "kind": "drip",
    "steps": [
        {
            "message": {
                "default": "Welcome {{contact.firstName}}!",
                "Tagalog": "Maligayang pagdating!",
            }
        },
        {"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "Day 1: plant"},
        {"delay": {"unit": "week", "value": 1, "time": "09:00"}, "message": "Week 1: water"},
        {"delay": {"unit": "month", "value": 0, "time": "18:30"}, "message": "Same evening"},
        {"delay": {"unit": "day", "value": 14, "time": "07:15"}, "message": "Two weeks: weed"},
        {"delay": {"unit": "hour", "value": 5, "relative": "initial"}, "message": "From start"},
    ],
}


async def test_a_thirty_day_drip_fires_every_step_at_its_local_time(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    start = world.clock.now()  # 2026-01-01 08:00 UTC, 16:00 in Manila
    # The subscription's timeZone sets the time of day of drip steps (the spec).
    subscribed = await world.subscribe(org, campaign_id, FARMER, time_zone="Asia/Manila")
    await world.advance_to(start + timedelta(days=31))
    sent = await world.sent(FARMER)
    assert [s.body for s in sent] == [
        "Welcome !",
        "Day 1: plant",
        "Week 1: water",
        "Same evening",
        "Two weeks: weed",
        "From start",
    ]
    assert [s.created_at for s in sent] == [
        start,
        local(MANILA, 2026, 1, 2, 9, 0),
        local(MANILA, 2026, 1, 9, 9, 0),
        local(MANILA, 2026, 1, 9, 18, 30),
        local(MANILA, 2026, 1, 23, 7, 15),
        # "relative: initial" counts from the subscription start, however late the step
        # before it was: five hours after the start has long passed, so it fires at once.
        local(MANILA, 2026, 1, 23, 7, 15),
    ]
    assert {s.run_id for s in sent} == {subscribed.run_id}
    row = await world.run_row(subscribed.run_id)
    assert (row.status, row.steps_sent, row.active_contact_id) == ("done", 6, None)


async def test_a_subscription_delays_time_is_utc_unless_its_zone_or_country_says(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, {"name": "One", "kind": "blast", "steps": [BLAST]})
    world.clock.set(datetime(2026, 1, 30, 12, 0, tzinfo=UTC))  # 20:00 in Manila
    nine = {"unit": "day", "value": 1, "time": "09:00"}
    # A Philippine contact: the spec reads "09:00" in UTC, not in the number's zone.
    plain = await world.subscribe(org, campaign_id, FARMER, delay=nine)
    in_ph = await world.subscribe(org, campaign_id, OTHER, delay={**nine, "country": "PH"})
    # The subscription's timeZone is for drip and reminder step times, not the start.
    zoned = await world.subscribe(org, campaign_id, THIRD, delay=nine, time_zone="America/New_York")
    assert (await world.run_row(plain.run_id)).started_at == datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert (await world.run_row(in_ph.run_id)).started_at == local(MANILA, 2026, 1, 31, 9, 0)
    assert (await world.run_row(zoned.run_id)).started_at == datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


async def test_the_contacts_language_chooses_the_text(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, {**DRIP, "steps": DRIP["steps"][:1]})

    await world.subscribe(
        org, campaign_id, FARMER, contact=ContactInput(first_name="Ana", language="tagalog")
    )
    await world.fire()
    assert [s.body for s in await world.sent(FARMER)] == ["Maligayang pagdating!"]


async def test_drip_steps_keep_their_wall_time_across_a_dst_change(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    steps = [
        {
            "delay": {"unit": "day", "value": 0, "time": "09:00", "timezone": "America/New_York"},
            "message": "one",
        },
        {
            "delay": {"unit": "week", "value": 1, "time": "09:00", "timezone": "America/New_York"},
            "message": "two",
        },
    ]
    campaign_id = await world.launched(org, {"name": "NY", "kind": "drip", "steps": steps})
    world.clock.set(local(NEW_YORK, 2026, 3, 2, 12, 0))
    await world.subscribe(org, campaign_id, FARMER_NY)
    await world.advance_to(local(NEW_YORK, 2026, 3, 20, 0, 0))
    times = [s.created_at for s in await world.sent(FARMER_NY)]
    assert times == [local(NEW_YORK, 2026, 3, 3, 9, 0), local(NEW_YORK, 2026, 3, 10, 9, 0)]
    # 14:00 UTC before the change (EST), 13:00 UTC after it (EDT).
    assert [t.hour for t in times] == [14, 13]


async def test_a_reminder_counts_before_and_after_the_date_in_args(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"delay": {"unit": "day", "value": 3, "time": "09:00"}, "before": True, "message": "3d"},
        {"delay": {"unit": "day", "value": 0, "time": "08:00"}, "before": True, "message": "day"},
        {"delay": {"unit": "day", "value": 1, "time": "10:00"}, "message": "after"},
    ]
    campaign_id = await world.launched(org, {"name": "Clinic", "kind": "reminder", "steps": steps})
    await world.subscribe(
        org, campaign_id, FARMER, args={"date": "2026-01-20"}, time_zone="Asia/Manila"
    )
    await world.advance_to(local(MANILA, 2026, 2, 1, 0, 0))
    sent = await world.sent(FARMER)
    assert [(s.body, s.created_at) for s in sent] == [
        ("3d", local(MANILA, 2026, 1, 17, 9, 0)),
        ("day", local(MANILA, 2026, 1, 20, 8, 0)),
        ("after", local(MANILA, 2026, 1, 21, 10, 0)),
    ]


async def test_a_reminder_skips_steps_whose_moment_passed_before_the_subscription(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"delay": {"unit": "day", "value": 3, "time": "09:00"}, "before": True, "message": "3d"},
        {"delay": {"unit": "hour", "value": 2}, "before": True, "message": "soon"},
    ]
    campaign_id = await world.launched(org, {"name": "Clinic", "kind": "reminder", "steps": steps})
    await world.subscribe(org, campaign_id, FARMER, args={"date": "2026-01-02T10:00"})
    await world.advance_to(local(MANILA, 2026, 1, 3, 0, 0))
    assert [(s.body, s.created_at) for s in await world.sent(FARMER)] == [
        ("soon", local(MANILA, 2026, 1, 2, 8, 0))
    ]


POLL = {
    "name": "Harvest survey",
    "kind": "poll",
    "steps": [
        {"message": "Did you plant? 1 Yes 2 No", "choices": ["Yes", "No"]},
        {
            "message": "What? 1 Rice 2 Corn",
            "choices": [{"value": "Rice", "words": ["bigas"]}, "Corn"],
            "retry": "Please answer 1 or 2",
            "maxRetries": 1,
            "timeout": {"unit": "hour", "value": 2},
        },
        {
            "message": "Any comment?",
            "timeout": {"unit": "hour", "value": 1},
            "onTimeout": "end",
        },
    ],
}


async def test_a_three_question_poll_with_invalid_answers_and_a_timeout(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    subscribed = await world.subscribe(org, campaign_id, FARMER)
    await world.fire()
    assert [s.body for s in await world.sent(FARMER)] == ["Did you plant? 1 Yes 2 No"]
    world.clock.advance(timedelta(minutes=5))
    assert await world.reply(FARMER, " yes! ") == 1
    await world.fire()
    world.clock.advance(timedelta(minutes=1))
    await world.reply(FARMER, "banana")
    world.clock.advance(timedelta(minutes=1))
    await world.reply(FARMER, "maybe")  # out of retries: the question times out
    await world.fire()
    assert [s.body for s in await world.sent(FARMER)] == [
        "Did you plant? 1 Yes 2 No",
        "What? 1 Rice 2 Corn",
        "Please answer 1 or 2",
        "Any comment?",
    ]
    await world.advance_to(world.clock.now() + timedelta(hours=2))
    row = await world.run_row(subscribed.run_id)
    assert (row.status, row.last_error) == ("done", "no answer in time")
    answers = await reports.list_answers(world.db, org, campaign_id, None, 0, 100)
    assert [(a.step_index, a.answer, a.reply) for _, a in answers] == [(0, "Yes", " yes! ")]


async def test_poll_answers_by_number_and_word_and_an_open_answer(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, POLL)
    subscribed = await world.subscribe(org, campaign_id, FARMER)
    await world.fire()
    for reply in ("2", "BIGAS", "Good rain this year"):
        world.clock.advance(timedelta(minutes=1))
        await world.reply(FARMER, reply)
        await world.fire()
    answers = await reports.list_answers(world.db, org, campaign_id, subscribed.run_id, 0, 100)
    assert [a.answer for _, a in answers] == ["No", "Rice", "Good rain this year"]
    assert (await world.run_row(subscribed.run_id)).status == "done"
    csv_text = await reports.export_answers_csv(world.db, org, campaign_id)
    assert csv_text.splitlines()[0] == "runId,contactId,question,questionText,answer,reply,at"
    assert len(csv_text.splitlines()) == 4


async def test_a_step_due_outside_the_sending_window_waits_for_it(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    definition = {
        "name": "Quiet",
        "kind": "drip",
        "sendingWindow": {"from": "08:00", "until": "20:00"},
        "steps": [
            {"message": "hello"},
            {"delay": {"unit": "hour", "value": 6}, "message": "later"},
        ],
    }
    campaign_id = await world.launched(org, definition)
    world.clock.set(local(MANILA, 2026, 1, 5, 22, 30))
    await world.subscribe(org, campaign_id, FARMER)
    await world.advance_to(local(MANILA, 2026, 1, 7, 0, 0))
    assert [(s.body, s.created_at) for s in await world.sent(FARMER)] == [
        ("hello", local(MANILA, 2026, 1, 6, 8, 0)),
        ("later", local(MANILA, 2026, 1, 6, 14, 0)),
    ]


async def test_stopping_holds_steps_and_relaunching_sends_each_once(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    subscribed = await world.subscribe(org, campaign_id, FARMER)
    await world.fire()
    await campaigns.stop_campaign(world.db, world.clock, org, campaign_id)
    await world.advance_to(world.clock.now() + timedelta(days=3))
    assert len(await world.sent(FARMER)) == 1
    schedule = await reports.read_schedule(world.db, org, campaign_id, subscribed.run_id)
    assert schedule.paused and [s.index for s in schedule.steps] == [1, 2, 3, 4, 5]
    await campaigns.launch_campaign(world.db, world.clock, org, campaign_id)
    await world.fire()
    await world.fire()
    assert [s.body for s in await world.sent(FARMER)] == ["Welcome !", "Day 1: plant"]


async def test_unsubscribing_ends_the_run_and_nothing_more_is_sent(world: CampaignWorld) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, DRIP)
    subscribed = await world.subscribe(org, campaign_id, FARMER)
    await world.fire()
    ended = await unsubscribe_contact(
        world.db, world.clock, org, campaign_id, subscribed.contact_id
    )
    assert ended == subscribed.run_id
    assert (
        await unsubscribe_contact(world.db, world.clock, org, campaign_id, subscribed.contact_id)
        is None
    )
    await world.advance_to(world.clock.now() + timedelta(days=40))
    assert len(await world.sent(FARMER)) == 1
    status = (
        await reports.read_subscription_statuses(
            world.db, org, campaign_id, [subscribed.contact_id]
        )
    )[subscribed.contact_id]
    assert (status.total, status.unsubscribed, status.error, status.active_id) == (1, 1, 1, None)


async def test_without_money_a_step_is_retried_then_sent(world: CampaignWorld) -> None:
    org = await world.new_campaign_org(balance_micro=0)
    campaign_id = await world.launched(org, {**DRIP, "steps": DRIP["steps"][:1]})
    subscribed = await world.subscribe(org, campaign_id, FARMER)
    await world.fire()
    row = await world.run_row(subscribed.run_id)
    assert (row.attempts, row.status) == (1, "active")
    assert row.last_error.startswith("balance.insufficient")

    await billing.credit_balance(world.db, world.clock, org, 1_000_000, "top up")
    await world.advance_to(world.clock.now() + timedelta(minutes=2))
    assert len(await world.sent(FARMER)) == 1
    assert (await world.run_row(subscribed.run_id)).status == "done"


async def test_a_reminder_can_take_its_date_from_a_contact_custom_field(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"delay": {"unit": "day", "value": 1, "time": "17:00"}, "before": True, "message": "eve"}
    ]
    definition = {
        "name": "Vaccination",
        "kind": "reminder",
        "reminderDate": {"customField": "appointment"},
        "steps": steps,
    }
    campaign_id = await world.launched(org, definition)
    contact = ContactInput(custom_fields_by_name={"Appointment": "2026-02-02T10:30"})
    await world.subscribe(org, campaign_id, FARMER, contact=contact, time_zone="Asia/Manila")
    await world.advance_to(local(MANILA, 2026, 2, 3, 0, 0))
    assert [(s.body, s.created_at) for s in await world.sent(FARMER)] == [
        ("eve", local(MANILA, 2026, 2, 1, 17, 0))
    ]


async def test_monthly_steps_across_month_ends_and_londons_clock_change(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    steps = [
        {"delay": {"unit": "day", "value": 0, "time": "10:00"}, "message": "jan"},
        {"delay": {"unit": "month", "value": 1, "time": "10:00"}, "message": "feb"},
        {
            "delay": {"unit": "month", "value": 2, "relative": "initial", "time": "10:00"},
            "message": "mar",
        },
    ]
    campaign_id = await world.launched(org, {"name": "Monthly", "kind": "drip", "steps": steps})
    london = ZoneInfo("Europe/London")
    world.clock.set(datetime(2026, 1, 31, 8, 0, tzinfo=UTC))
    await world.subscribe(org, campaign_id, FARMER, time_zone="Europe/London")
    await world.advance_to(datetime(2026, 4, 5, tzinfo=UTC))
    assert [(s.body, s.created_at) for s in await world.sent(FARMER)] == [
        ("jan", datetime(2026, 1, 31, 10, 0, tzinfo=london)),
        ("feb", datetime(2026, 2, 28, 10, 0, tzinfo=london)),
        # Two months after the start (the 31st), after the clocks went forward on 29 March.
        ("mar", datetime(2026, 3, 31, 10, 0, tzinfo=london)),
    ]
