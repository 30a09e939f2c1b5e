"""Reminder campaigns: reading a subscription's date, and counting steps before or after it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.campaigns.delays import Delay, DelayUnit, Relative, compute_fire_time, parse_delay
from tambuli.campaigns.reminders import compute_reminder_time, parse_reminder_date
from tambuli.errors import InvalidField

MANILA = ZoneInfo("Asia/Manila")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
HAVANA = ZoneInfo("America/Havana")  # DST starts at midnight: 2026-03-08 00:00 does not exist
ZONE_UTC = ZoneInfo("UTC")


def anchor(text: str, zone: ZoneInfo) -> datetime:
    """A reminder date read as a subscription's would be."""
    return parse_reminder_date(text, zone, "args.date")


def remind(raw: dict[str, object], before: bool, date_text: str, zone: ZoneInfo) -> datetime:
    """When a reminder step with this delay fires for this date."""
    return compute_reminder_time(parse_delay(raw), before, anchor(date_text, zone), zone)


def in_zone(moment: datetime, zone: ZoneInfo) -> tuple[date, time]:
    """The local (date, wall time) of a moment."""
    local = moment.astimezone(zone)
    return local.date(), local.time()


# --- The spec's own example -------------------------------------------------------------------


def test_three_days_before_at_nine() -> None:
    result = remind({"unit": "day", "value": 3, "time": "09:00"}, True, "2026-12-01", MANILA)
    assert result.tzinfo is UTC
    assert result.astimezone(MANILA).isoformat() == "2026-11-28T09:00:00+08:00"


# --- Reading the date -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-12-01", MANILA, datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),
        ("  2026-12-01 ", MANILA, datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),
        ("2026-12-01T09:30", MANILA, datetime(2026, 12, 1, 1, 30, tzinfo=UTC)),
        ("2026-12-01t09:30", MANILA, datetime(2026, 12, 1, 1, 30, tzinfo=UTC)),
        ("2026-12-01 09:30", MANILA, datetime(2026, 12, 1, 1, 30, tzinfo=UTC)),
        ("2026-12-01 09:30:15", MANILA, datetime(2026, 12, 1, 1, 30, 15, tzinfo=UTC)),
        ("2026-12-01T09:30:15", MANILA, datetime(2026, 12, 1, 1, 30, 15, tzinfo=UTC)),
        ("2026-12-01T09:30:00Z", MANILA, datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01T09:30:00z", NEW_YORK, datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01 09:30:00+02:00", MANILA, datetime(2026, 12, 1, 7, 30, tzinfo=UTC)),
        ("2026-12-01T09:30:00.5-05:00", MANILA, datetime(2026, 12, 1, 14, 30, 0, 500000, UTC)),
        ("2026-07-01", NEW_YORK, datetime(2026, 7, 1, 4, 0, tzinfo=UTC)),
        ("2026-07-01", LONDON, datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        ("2028-02-29", ZONE_UTC, datetime(2028, 2, 29, tzinfo=UTC)),
        ("9999-12-31", MANILA, datetime(9999, 12, 30, 16, 0, tzinfo=UTC)),
    ],
)
def test_a_reminder_date_is_read_in_the_contact_zone_unless_it_has_an_offset(
    text: str, zone: ZoneInfo, expected: datetime
) -> None:
    result = parse_reminder_date(text, zone, "args.date")
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        # A wall time in the spring-forward gap moves to the end of the gap.
        ("2026-03-08 02:30", NEW_YORK, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        ("2026-03-29T01:30", LONDON, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-08", HAVANA, datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        # An ambiguous wall time takes its first occurrence.
        ("2026-11-01 01:30", NEW_YORK, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("2026-10-25T01:30", LONDON, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # Neither touches a moment with an offset.
        ("2026-11-01T01:30:00-05:00", NEW_YORK, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_a_local_reminder_date_is_dst_correct(
    text: str, zone: ZoneInfo, expected: datetime
) -> None:
    assert parse_reminder_date(text, zone, "args.date") == expected


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        (None, MANILA),
        (20261201, MANILA),
        (["2026-12-01"], MANILA),
        ("", MANILA),
        ("   ", MANILA),
        ("tomorrow", MANILA),
        ("2026-02-30", MANILA),
        ("2026-13-01", MANILA),
        ("2026-00-10", MANILA),
        ("2026-12-1", MANILA),
        ("26-12-01", MANILA),
        ("01/12/2026", MANILA),
        ("2026/12/01", MANILA),
        ("20261201", MANILA),
        ("２０２６-12-01", MANILA),
        ("2026-12-01T24:00", MANILA),
        ("2026-12-01T09:60", MANILA),
        ("2026-12-01T09:30:60", MANILA),
        ("2026-12-01T9:30", MANILA),
        ("2026-12-01T09", MANILA),
        ("2026-12-01T09:30+08:00", MANILA),
        ("2026-12-01T09:30:00 Z", MANILA),
        ("2026-12-01T09:30:00.Z", MANILA),
        ("2026-12-01T09:30:00+0800", MANILA),
        ("2026-12-01Z", MANILA),
        ("0001-01-01", ZoneInfo("Asia/Tokyo")),  # before year 1 in UTC
        ("0001-01-01T00:00:00+01:00", MANILA),
    ],
)
def test_anything_else_is_an_invalid_field(text: object, zone: ZoneInfo) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_reminder_date(text, zone, "args.appointment")
    assert caught.value.context == {"field": "args.appointment"}
    assert caught.value.message


# --- After the date: exactly a delay's fire time ---------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"unit": "hour", "value": 5},
        {"unit": "day", "value": 0, "time": "09:00"},
        {"unit": "day", "value": 2},
        {"unit": "week", "value": 1, "dayOfWeek": "friday", "time": "08:00"},
        {"unit": "month", "value": 1},
        {"unit": "at", "at": "2027-01-01T00:00:00Z"},
    ],
)
@pytest.mark.parametrize("date_text", ["2026-12-01", "2026-03-07 14:00", "2026-10-31T01:30"])
def test_after_the_date_is_the_delay_fire_time(raw: dict[str, object], date_text: str) -> None:
    delay = parse_delay(raw)
    start = anchor(date_text, NEW_YORK)
    result = compute_reminder_time(delay, False, start, NEW_YORK)
    assert result == compute_fire_time(delay, start, NEW_YORK)


def test_after_the_date_past_the_calendar_is_the_delay_fire_time_error() -> None:
    with pytest.raises(InvalidField) as caught:
        remind({"unit": "month", "value": 120}, False, "9995-01-01", ZONE_UTC)
    assert caught.value.context == {"field": "delay.value"}


# --- Before the date --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"unit": "second", "value": 45}, datetime(2026, 12, 1, 14, 14, 15)),
        ({"unit": "minute", "value": 90}, datetime(2026, 12, 1, 12, 45)),
        ({"unit": "hour", "value": 36}, datetime(2026, 11, 30, 2, 15)),
        ({"unit": "hour", "value": 2, "time": "23:00"}, datetime(2026, 12, 1, 12, 15)),
        ({"unit": "day", "value": 2}, datetime(2026, 11, 29, 14, 15)),
        ({"unit": "day", "value": 1, "time": "18:30"}, datetime(2026, 11, 30, 18, 30)),
        ({"unit": "day", "value": 0}, datetime(2026, 12, 1, 14, 15)),
        ({"unit": "day", "value": 0, "time": "08:00"}, datetime(2026, 12, 1, 8, 0)),
        ({"unit": "week", "value": 2}, datetime(2026, 11, 17, 14, 15)),
        ({"unit": "month", "value": 1}, datetime(2026, 11, 1, 14, 15)),
        ({"unit": "month", "value": 12, "time": "07:00"}, datetime(2025, 12, 1, 7, 0)),
        ({}, datetime(2026, 12, 1, 14, 15)),
        ({"unit": "at", "at": "2026-11-20T10:00:00+08:00"}, datetime(2026, 11, 20, 10, 0)),
    ],
)
def test_each_unit_counts_back_from_the_date(raw: dict[str, object], expected: datetime) -> None:
    result = remind(raw, True, "2026-12-01 14:15", MANILA)
    assert result.tzinfo is UTC
    assert result == expected.replace(tzinfo=MANILA)


def test_zero_days_before_at_a_later_time_is_that_day_even_after_the_anchor() -> None:
    # "On the day at nine" for a date-only anchor: the usual appointment reminder.
    result = remind({"unit": "day", "value": 0, "time": "09:00"}, True, "2026-12-01", MANILA)
    assert in_zone(result, MANILA) == (date(2026, 12, 1), time(9, 0))


@pytest.mark.parametrize(
    ("date_text", "months", "expected"),
    [
        ("2026-03-31", 1, date(2026, 2, 28)),
        ("2028-03-31", 1, date(2028, 2, 29)),
        ("2026-05-31", 1, date(2026, 4, 30)),
        ("2026-05-31", 3, date(2026, 2, 28)),
        ("2026-03-31", 13, date(2025, 2, 28)),
        ("2028-02-29", 12, date(2027, 2, 28)),
        ("2026-01-15", 1, date(2025, 12, 15)),
        ("2026-12-31", 6, date(2026, 6, 30)),
        ("2026-05-04", 120, date(2016, 5, 4)),
    ],
)
def test_months_before_clamp_to_the_month_end(date_text: str, months: int, expected: date) -> None:
    result = remind({"unit": "month", "value": months}, True, date_text, MANILA)
    assert in_zone(result, MANILA) == (expected, time(0, 0))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"unit": "week", "value": 1}, date(2026, 5, 6)),
        ({"unit": "week", "value": 1, "dayOfWeek": "wednesday"}, date(2026, 5, 6)),
        (
            {"unit": "week", "value": 1, "daysOfWeek": {"monday": True, "friday": True}},
            date(2026, 5, 4),
        ),
        ({"unit": "week", "value": 1, "daysOfWeek": {"thursday": True}}, date(2026, 4, 30)),
        ({"unit": "week", "value": 0, "dayOfWeek": "friday"}, date(2026, 5, 8)),
        ({"unit": "week", "value": 0, "dayOfWeek": "wednesday"}, date(2026, 5, 13)),
        ({"unit": "week", "value": 2, "dayOfWeek": "sunday"}, date(2026, 4, 26)),
    ],
)
def test_weeks_before_move_back_to_the_latest_allowed_weekday(
    raw: dict[str, object], expected: date
) -> None:
    # The date is Wednesday 2026-05-13 at 10:45; the wall time is kept.
    result = remind(raw, True, "2026-05-13 10:45", MANILA)
    assert in_zone(result, MANILA) == (expected, time(10, 45))


# --- Daylight saving time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "date_text", "elapsed"),
    [
        (NEW_YORK, "2026-03-08 09:00", timedelta(hours=23)),
        (NEW_YORK, "2026-11-01 09:00", timedelta(hours=25)),
        (LONDON, "2026-03-29 09:00", timedelta(hours=23)),
        (LONDON, "2026-10-25 09:00", timedelta(hours=25)),
        (MANILA, "2026-03-08 09:00", timedelta(hours=24)),
    ],
)
def test_a_day_before_keeps_the_wall_clock_across_the_dst_change(
    zone: ZoneInfo, date_text: str, elapsed: timedelta
) -> None:
    start = anchor(date_text, zone)
    for raw in ({"unit": "day", "value": 1}, {"unit": "day", "value": 1, "time": "09:00"}):
        result = compute_reminder_time(parse_delay(raw), True, start, zone)
        assert in_zone(result, zone) == (start.astimezone(zone).date() - timedelta(days=1), time(9))
        assert start - result == elapsed


@pytest.mark.parametrize(
    ("zone", "date_text", "raw", "expected"),
    [
        # A wall time in the spring-forward gap moves to the end of the gap.
        (NEW_YORK, "2026-03-09 02:30", {"unit": "day", "value": 1}, datetime(2026, 3, 8, 7, 0)),
        (
            NEW_YORK,
            "2026-03-15",
            {"unit": "week", "value": 1, "time": "02:15"},
            datetime(2026, 3, 8, 7, 0),
        ),
        (
            LONDON,
            "2026-03-30",
            {"unit": "day", "value": 1, "time": "01:30"},
            datetime(2026, 3, 29, 1, 0),
        ),
        (LONDON, "2026-04-29 01:30", {"unit": "month", "value": 1}, datetime(2026, 3, 29, 1, 0)),
        # An ambiguous wall time takes its first occurrence.
        (NEW_YORK, "2026-11-02 01:30", {"unit": "day", "value": 1}, datetime(2026, 11, 1, 5, 30)),
        (
            NEW_YORK,
            "2026-12-01",
            {"unit": "month", "value": 1, "time": "01:30"},
            datetime(2026, 11, 1, 5, 30),
        ),
        (
            LONDON,
            "2026-10-26",
            {"unit": "day", "value": 1, "time": "01:30"},
            datetime(2026, 10, 25, 0, 30),
        ),
        # Elapsed units ignore the wall clock: 12 hours before 12:00 EDT is 23:00 EST.
        (NEW_YORK, "2026-03-08 12:00", {"unit": "hour", "value": 12}, datetime(2026, 3, 8, 4, 0)),
        (
            LONDON,
            "2026-10-25 12:00",
            {"unit": "minute", "value": 720},
            datetime(2026, 10, 25, 0, 0),
        ),
    ],
)
def test_before_the_date_is_dst_correct(
    zone: ZoneInfo, date_text: str, raw: dict[str, object], expected: datetime
) -> None:
    assert remind(raw, True, date_text, zone) == expected.replace(tzinfo=UTC)


def test_zero_days_before_a_second_occurrence_is_the_anchor_itself() -> None:
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30
    for raw in ({"unit": "day", "value": 0}, {"unit": "week", "value": 0}, {}):
        assert compute_reminder_time(parse_delay(raw), True, second, NEW_YORK) == second


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "date_text"),
    [
        ({"unit": "day", "value": 10}, "0001-01-05"),
        ({"unit": "week", "value": 1}, "0001-01-05"),
        ({"unit": "month", "value": 1}, "0001-01-15"),
        ({"unit": "hour", "value": 10}, "0001-01-01 05:00"),
        ({"unit": "second", "value": 60}, "0001-01-01 00:00:30"),
    ],
)
def test_before_the_start_of_the_calendar_is_an_invalid_delay(
    raw: dict[str, object], date_text: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        remind(raw, True, date_text, ZONE_UTC)
    assert caught.value.context == {"field": "delay"}


def test_a_naive_anchor_is_a_programming_error() -> None:
    delay = parse_delay({"unit": "day", "value": 1})
    for before in (True, False):
        with pytest.raises(ValueError, match="aware"):
            compute_reminder_time(delay, before, datetime(2026, 12, 1), MANILA)


# --- Properties -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
    zone=st.sampled_from([NEW_YORK, LONDON, MANILA, HAVANA]),
    unit=st.sampled_from([DelayUnit.DAY, DelayUnit.WEEK]),
    value=st.integers(0, 30),
    wall=st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59])),
)
def test_days_and_weeks_before_land_that_many_days_back_at_the_time(
    day: date, zone: ZoneInfo, unit: DelayUnit, value: int, wall: time
) -> None:
    delay = Delay(unit, value, wall, None, None, frozenset(), None, Relative.DEFAULT)
    start = parse_reminder_date(day.isoformat(), zone, "args.date")
    result = compute_reminder_time(delay, True, start, zone)

    days = value * (7 if unit is DelayUnit.WEEK else 1)
    local = result.astimezone(zone)
    assert local.date() == day - timedelta(days=days)
    if local.time() != wall:
        # Only a wall time that does not exist that day may move, and only to the gap's end.
        assert (result - timedelta(seconds=1)).astimezone(zone).utcoffset() != local.utcoffset()


def test_a_reminder_counts_days_on_the_dates_calendar_and_reads_the_time_in_the_steps_zone() -> (
    None
):
    # "2030-03-10" for a Philippine contact is midnight in Manila (16:00 UTC the day before);
    # a step's 08:00 without a zone is 08:00 UTC, on the day before / after the 10th.
    date_anchor = anchor("2030-03-10", MANILA)
    day_before = parse_delay({"unit": "day", "value": 1, "time": "08:00"})
    assert compute_reminder_time(day_before, True, date_anchor, ZONE_UTC, MANILA) == datetime(
        2030, 3, 9, 8, 0, tzinfo=UTC
    )
    assert compute_reminder_time(day_before, False, date_anchor, ZONE_UTC, MANILA) == datetime(
        2030, 3, 11, 8, 0, tzinfo=UTC
    )
    # Without a time the step keeps the date's own wall clock, in the date's zone.
    three_days = parse_delay({"unit": "day", "value": 3})
    assert compute_reminder_time(three_days, True, date_anchor, ZONE_UTC, MANILA) == datetime(
        2030, 3, 7, 0, 0, tzinfo=MANILA
    )
