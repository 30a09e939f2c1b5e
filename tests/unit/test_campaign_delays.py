"""engageSPARK subscription delays: validation, time zones, DST, and when a delay fires."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.campaigns.delays import (
    Delay,
    DelayUnit,
    Relative,
    choose_delay_zone,
    compute_fire_time,
    describe_fire_time,
    parse_delay,
    resolve_zone,
)
from tambuli.errors import InvalidField

MANILA = ZoneInfo("Asia/Manila")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # half-hour DST shifts


def at_local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, fold: int = 0
) -> datetime:
    """An aware local datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold)


def fire(raw: dict[str, object], base: datetime, zone: ZoneInfo) -> datetime:
    """Parse a raw delay and compute when it fires from `base`."""
    return compute_fire_time(parse_delay(raw), base, zone)


def in_zone(moment: datetime, zone: ZoneInfo) -> tuple[date, time]:
    """The local (date, wall time) of a moment."""
    local = moment.astimezone(zone)
    return local.date(), local.time()


# --- The spec's own example -----------------------------------------------------------------


def test_zero_days_at_nine_fires_at_the_upcoming_nine_when_it_is_half_past_eight() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    assert fire({"unit": "day", "value": 0, "time": "09:00"}, base, MANILA) - base == timedelta(
        minutes=30
    )


def test_one_day_at_nine_fires_tomorrow_at_nine_when_it_is_half_past_eight() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    assert fire({"unit": "day", "value": 1, "time": "09:00"}, base, MANILA) - base == timedelta(
        hours=24, minutes=30
    )


def test_zero_days_at_nine_fires_tomorrow_when_nine_has_passed() -> None:
    base = at_local(MANILA, 2026, 5, 4, 9, 30)
    result = fire({"unit": "day", "value": 0, "time": "09:00"}, base, MANILA)
    assert result == at_local(MANILA, 2026, 5, 5, 9, 0)


def test_zero_days_at_nine_exactly_at_nine_fires_tomorrow_because_upcoming_is_strict() -> None:
    base = at_local(MANILA, 2026, 5, 4, 9, 0)
    result = fire({"unit": "day", "value": 0, "time": "9:00"}, base, MANILA)
    assert result == at_local(MANILA, 2026, 5, 5, 9, 0)


def test_results_are_aware_utc() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    for raw in [{"unit": "day", "value": 1}, {"unit": "hour", "value": 1}, {}]:
        assert fire(raw, base, MANILA).tzinfo is UTC


# --- Elapsed units, no delay and `at` ---------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "value", "elapsed"),
    [
        ("second", 45, timedelta(seconds=45)),
        ("minute", 90, timedelta(minutes=90)),
        ("hour", 36, timedelta(hours=36)),
        ("hour", 0, timedelta(0)),
    ],
)
def test_seconds_minutes_and_hours_are_exact_elapsed_time(
    unit: str, value: int, elapsed: timedelta
) -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    assert fire({"unit": unit, "value": value}, base, MANILA) == base + elapsed


def test_hours_ignore_a_time_of_day() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    result = fire({"unit": "hour", "value": 2, "time": "23:00"}, base, MANILA)
    assert result == base + timedelta(hours=2)


@pytest.mark.parametrize("raw", [None, {}, {"unit": ""}, {"unit": "", "value": 0}])
def test_no_unit_means_the_base_moment(raw: dict[str, object] | None) -> None:
    base = at_local(NEW_YORK, 2026, 5, 4, 8, 30)
    delay = parse_delay(raw)
    assert delay.unit is DelayUnit.NONE
    assert compute_fire_time(delay, base, NEW_YORK) == base


def test_at_overrides_every_other_field() -> None:
    raw: dict[str, object] = {
        "unit": "at",
        "value": 3,
        "time": "09:00",
        "timezone": "Asia/Manila",
        "at": "2026-07-01T12:00:00+02:00",
    }
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    assert fire(raw, base, MANILA) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_an_at_in_the_past_is_returned_unchanged_for_the_scheduler_to_treat_as_due() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    result = fire({"unit": "at", "at": "2020-01-01T00:00:00Z"}, base, MANILA)
    assert result == datetime(2020, 1, 1, tzinfo=UTC)


def test_an_at_with_another_unit_is_ignored() -> None:
    base = at_local(MANILA, 2026, 5, 4, 8, 30)
    result = fire({"unit": "hour", "value": 1, "at": "2030-01-01T00:00:00Z"}, base, MANILA)
    assert result == base + timedelta(hours=1)


# --- Weeks ------------------------------------------------------------------------------------


def test_one_week_without_days_is_seven_calendar_days_at_the_same_wall_clock() -> None:
    base = at_local(MANILA, 2026, 5, 6, 14, 15)  # a Wednesday
    assert fire({"unit": "week", "value": 1}, base, MANILA) == at_local(MANILA, 2026, 5, 13, 14, 15)


def test_one_week_with_days_of_week_moves_to_the_first_allowed_day_after_seven_days() -> None:
    base = at_local(MANILA, 2026, 5, 6, 14, 15)  # Wednesday; +7 days is Wednesday 13th
    raw: dict[str, object] = {
        "unit": "week",
        "value": 1,
        "time": "09:00",
        "daysOfWeek": {"monday": True, "thursday": True, "friday": False},
    }
    assert fire(raw, base, MANILA) == at_local(MANILA, 2026, 5, 14, 9, 0)


def test_one_week_on_an_allowed_day_stays_on_that_day() -> None:
    base = at_local(MANILA, 2026, 5, 6, 14, 15)
    raw: dict[str, object] = {"unit": "week", "value": 1, "daysOfWeek": {"wednesday": True}}
    assert fire(raw, base, MANILA) == at_local(MANILA, 2026, 5, 13, 14, 15)


def test_legacy_day_of_week_works_like_days_of_week() -> None:
    base = at_local(MANILA, 2026, 5, 6, 14, 15)
    raw: dict[str, object] = {"unit": "week", "value": 2, "time": "08:00", "dayOfWeek": "friday"}
    assert fire(raw, base, MANILA) == at_local(MANILA, 2026, 5, 22, 8, 0)


def test_legacy_and_new_weekday_forms_are_combined() -> None:
    raw: dict[str, object] = {
        "unit": "week",
        "value": 1,
        "dayOfWeek": "Sunday",
        "daysOfWeek": {"tuesday": True},
    }
    assert parse_delay(raw).days_of_week == frozenset({1, 6})


def test_zero_weeks_with_a_time_takes_today_if_still_ahead_and_allowed() -> None:
    base = at_local(MANILA, 2026, 5, 6, 8, 0)  # Wednesday
    raw: dict[str, object] = {"unit": "week", "value": 0, "time": "09:00", "dayOfWeek": "wednesday"}
    assert fire(raw, base, MANILA) == at_local(MANILA, 2026, 5, 6, 9, 0)


def test_zero_weeks_with_a_passed_time_takes_the_next_allowed_day() -> None:
    base = at_local(MANILA, 2026, 5, 6, 10, 0)  # Wednesday
    only_wednesday: dict[str, object] = {
        "unit": "week",
        "value": 0,
        "time": "09:00",
        "dayOfWeek": "wednesday",
    }
    assert fire(only_wednesday, base, MANILA) == at_local(MANILA, 2026, 5, 13, 9, 0)
    weekdays = {**only_wednesday, "daysOfWeek": {"friday": True}}
    assert fire(weekdays, base, MANILA) == at_local(MANILA, 2026, 5, 8, 9, 0)


def test_zero_weeks_without_a_time_waits_for_an_allowed_day_keeping_the_wall_clock() -> None:
    base = at_local(MANILA, 2026, 5, 6, 10, 0)  # Wednesday
    assert fire({"unit": "week", "value": 0, "dayOfWeek": "saturday"}, base, MANILA) == at_local(
        MANILA, 2026, 5, 9, 10, 0
    )
    assert fire({"unit": "week", "value": 0, "dayOfWeek": "wednesday"}, base, MANILA) == base


# --- Months -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 1, 31), 13, date(2027, 2, 28)),
        (date(2027, 2, 28), 12, date(2028, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 5, 4), 120, date(2036, 5, 4)),
    ],
)
def test_months_add_calendar_months_clamping_to_the_month_end(
    start: date, months: int, expected: date
) -> None:
    base = datetime.combine(start, time(7, 45), tzinfo=MANILA)
    result = fire({"unit": "month", "value": months}, base, MANILA)
    assert in_zone(result, MANILA) == (expected, time(7, 45))


def test_months_with_a_time_fire_at_that_time() -> None:
    base = at_local(NEW_YORK, 2026, 1, 31, 23, 0)
    result = fire({"unit": "month", "value": 1, "time": "06:30"}, base, NEW_YORK)
    assert in_zone(result, NEW_YORK) == (date(2026, 2, 28), time(6, 30))


def test_months_keep_the_wall_clock_across_dst() -> None:
    base = at_local(NEW_YORK, 2026, 2, 15, 9, 0)
    result = fire({"unit": "month", "value": 1}, base, NEW_YORK)
    assert in_zone(result, NEW_YORK) == (date(2026, 3, 15), time(9, 0))


def test_zero_months_with_a_time_is_the_upcoming_time_like_zero_days() -> None:
    base = at_local(MANILA, 2026, 5, 4, 10, 0)
    result = fire({"unit": "month", "value": 0, "time": "09:00"}, base, MANILA)
    assert result == at_local(MANILA, 2026, 5, 5, 9, 0)


# --- Daylight saving time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day_before", "elapsed"),
    [
        (NEW_YORK, date(2026, 3, 7), timedelta(hours=23)),
        (NEW_YORK, date(2026, 10, 31), timedelta(hours=25)),
        (LONDON, date(2026, 3, 28), timedelta(hours=23)),
        (LONDON, date(2026, 10, 24), timedelta(hours=25)),
        (MANILA, date(2026, 3, 7), timedelta(hours=24)),
        (MANILA, date(2026, 10, 31), timedelta(hours=24)),
    ],
)
def test_a_daily_nine_o_clock_stays_at_nine_across_the_dst_change(
    zone: ZoneInfo, day_before: date, elapsed: timedelta
) -> None:
    base = datetime.combine(day_before, time(9, 0), tzinfo=zone)
    result = fire({"unit": "day", "value": 1, "time": "09:00"}, base, zone)
    assert in_zone(result, zone) == (day_before + timedelta(days=1), time(9, 0))
    assert result - base == elapsed


@pytest.mark.parametrize(
    ("zone", "day_before"),
    [
        (NEW_YORK, date(2026, 3, 7)),
        (NEW_YORK, date(2026, 10, 31)),
        (LONDON, date(2026, 3, 28)),
        (LONDON, date(2026, 10, 24)),
        (MANILA, date(2026, 3, 28)),
    ],
)
def test_one_day_without_a_time_keeps_the_wall_clock_across_the_dst_change(
    zone: ZoneInfo, day_before: date
) -> None:
    base = datetime.combine(day_before, time(17, 20, 5), tzinfo=zone)
    result = fire({"unit": "day", "value": 1}, base, zone)
    assert in_zone(result, zone) == (day_before + timedelta(days=1), time(17, 20, 5))


@pytest.mark.parametrize(
    ("zone", "gap_day", "wall", "expected_utc"),
    [
        (NEW_YORK, date(2026, 3, 8), "02:30", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        (NEW_YORK, date(2026, 3, 8), "02:00", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        (LONDON, date(2026, 3, 29), "01:30", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (LORD_HOWE, date(2026, 10, 4), "02:15", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    ],
)
def test_a_time_in_the_spring_forward_gap_moves_to_the_end_of_the_gap(
    zone: ZoneInfo, gap_day: date, wall: str, expected_utc: datetime
) -> None:
    base = datetime.combine(gap_day - timedelta(days=1), time(12, 0), tzinfo=zone)
    result = fire({"unit": "day", "value": 1, "time": wall}, base, zone)
    assert result == expected_utc
    assert (result - timedelta(seconds=1)).astimezone(zone).utcoffset() != result.astimezone(
        zone
    ).utcoffset()


def test_two_thirty_on_the_new_york_spring_forward_day_is_three_o_clock() -> None:
    base = at_local(NEW_YORK, 2026, 3, 8, 0, 0)
    result = fire({"unit": "day", "value": 0, "time": "02:30"}, base, NEW_YORK)
    assert in_zone(result, NEW_YORK) == (date(2026, 3, 8), time(3, 0))


def test_one_day_without_a_time_from_a_wall_clock_that_will_not_exist_moves_past_the_gap() -> None:
    base = at_local(NEW_YORK, 2026, 3, 7, 2, 30)
    result = fire({"unit": "day", "value": 1}, base, NEW_YORK)
    assert in_zone(result, NEW_YORK) == (date(2026, 3, 8), time(3, 0))


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc"),
    [
        (NEW_YORK, date(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        (LONDON, date(2026, 10, 25), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_an_ambiguous_fall_back_time_takes_the_first_occurrence(
    zone: ZoneInfo, day: date, expected_utc: datetime
) -> None:
    base = datetime.combine(day - timedelta(days=1), time(20, 0), tzinfo=zone)
    assert fire({"unit": "day", "value": 1, "time": "01:30"}, base, zone) == expected_utc
    midnight = datetime.combine(day, time(0, 0), tzinfo=zone)
    assert fire({"unit": "day", "value": 0, "time": "01:30"}, midnight, zone) == expected_utc


def test_zero_days_at_one_thirty_after_the_first_occurrence_waits_for_tomorrow() -> None:
    second_occurrence = at_local(NEW_YORK, 2026, 11, 1, 1, 45, fold=1)
    result = fire({"unit": "day", "value": 0, "time": "01:30"}, second_occurrence, NEW_YORK)
    assert in_zone(result, NEW_YORK) == (date(2026, 11, 2), time(1, 30))


def test_zero_days_without_a_time_from_the_second_occurrence_is_the_base_itself() -> None:
    base = at_local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)
    # Compared in UTC: == between zones is always False for a time in a fold (PEP 495).
    assert fire({"unit": "day", "value": 0}, base, NEW_YORK) == base.astimezone(UTC)
    assert fire({"unit": "week", "value": 0}, base, NEW_YORK) == base.astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "base", "hours", "expected_wall"),
    [
        (NEW_YORK, datetime(2026, 3, 8, 1, 0), 2, time(4, 0)),
        (NEW_YORK, datetime(2026, 11, 1, 0, 30), 2, time(1, 30)),
        (LONDON, datetime(2026, 3, 29, 0, 30), 1, time(2, 30)),
        (LONDON, datetime(2026, 10, 25, 0, 30), 3, time(2, 30)),
        (MANILA, datetime(2026, 3, 8, 1, 0), 2, time(3, 0)),
    ],
)
def test_hours_are_exact_elapsed_time_across_the_dst_change(
    zone: ZoneInfo, base: datetime, hours: int, expected_wall: time
) -> None:
    aware = base.replace(tzinfo=zone)
    result = fire({"unit": "hour", "value": hours}, aware, zone)
    assert result - aware == timedelta(hours=hours)
    assert result.astimezone(zone).time() == expected_wall


@pytest.mark.parametrize("day", [date(2026, 1, 15), date(2026, 3, 8), date(2026, 11, 1)])
def test_manila_has_no_dst_so_every_day_is_twenty_four_hours(day: date) -> None:
    base = datetime.combine(day, time(9, 0), tzinfo=MANILA)
    assert fire({"unit": "day", "value": 1, "time": "09:00"}, base, MANILA) - base == timedelta(
        hours=24
    )
    assert fire({"unit": "day", "value": 1}, base, MANILA) - base == timedelta(hours=24)


def test_the_base_may_be_in_any_zone() -> None:
    base = datetime(2026, 5, 4, 0, 30, tzinfo=UTC)  # 08:30 in Manila
    result = fire({"unit": "day", "value": 0, "time": "09:00"}, base, MANILA)
    assert result == datetime(2026, 5, 4, 1, 0, tzinfo=UTC)


def test_a_naive_base_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        compute_fire_time(parse_delay({"unit": "day", "value": 1}), datetime(2026, 1, 1), MANILA)


@pytest.mark.parametrize(
    "raw",
    [
        {"unit": "month", "value": 120},
        {"unit": "day", "value": 3660},
        {"unit": "hour", "value": 87840},
    ],
)
def test_a_delay_past_the_end_of_the_calendar_is_an_invalid_value(raw: dict[str, object]) -> None:
    base = datetime(9995, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidField) as caught:
        fire(raw, base, MANILA)
    assert caught.value.context == {"field": "delay.value"}


# --- Zone resolution --------------------------------------------------------------------------


def test_an_explicit_time_zone_wins_over_country_and_phone() -> None:
    assert resolve_zone("Europe/London", "PH", "639171234567") == LONDON


def test_country_ph_is_manila() -> None:
    assert resolve_zone(None, "PH", None) == MANILA
    assert resolve_zone("", "ph", "14155550123") == MANILA


def test_a_philippine_number_is_manila() -> None:
    assert resolve_zone(None, None, "639171234567") == MANILA
    assert resolve_zone(None, None, "+639171234567") == MANILA


@pytest.mark.parametrize("number", ["631234567890", "63123456789"])
def test_a_philippine_number_in_no_known_range_is_manila_too(number: str) -> None:
    assert resolve_zone(None, None, number) == MANILA


def test_country_us_is_some_american_zone() -> None:
    assert resolve_zone(None, "US", None).key.startswith("America/")


def test_nothing_known_is_utc() -> None:
    assert resolve_zone(None, None, None).key == "UTC"
    assert resolve_zone("", "", "").key == "UTC"
    assert resolve_zone(None, None, "999").key == "UTC"


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "America", "../etc/passwd", "/etc/passwd", "localtime", "a\x00b"]
)
def test_an_unknown_time_zone_is_an_invalid_field(name: str) -> None:
    with pytest.raises(InvalidField) as caught:
        resolve_zone(name, "PH", None)
    assert caught.value.context == {"field": "delay.timezone"}


def test_an_unknown_country_is_an_invalid_field() -> None:
    with pytest.raises(InvalidField) as caught:
        resolve_zone(None, "XX", None)
    assert caught.value.context == {"field": "delay.country"}


# --- Validation -------------------------------------------------------------------------------


def test_a_full_delay_object_is_parsed_into_every_field() -> None:
    delay = parse_delay(
        {
            "unit": "week",
            "value": 2,
            "time": "07:05",
            "timezone": "Asia/Manila",
            "country": "ph",
            "daysOfWeek": {"monday": True, "sunday": True, "friday": False},
            "relative": "previous",
        }
    )
    assert delay == Delay(
        unit=DelayUnit.WEEK,
        value=2,
        time_of_day=time(7, 5),
        timezone="Asia/Manila",
        country="PH",
        days_of_week=frozenset({0, 6}),
        at=None,
        relative=Relative.PREVIOUS,
    )


def test_nulls_and_empty_strings_count_as_missing() -> None:
    delay = parse_delay(
        {"unit": "day", "value": 1, "time": "", "timezone": None, "country": "", "at": ""}
    )
    assert (delay.time_of_day, delay.timezone, delay.country, delay.at) == (None, None, None, None)


def test_at_is_read_as_utc_with_fractions_and_lowercase_separators() -> None:
    delay = parse_delay({"unit": "at", "at": "2026-01-15t09:00:00.123456789+08:00"})
    assert delay.at == datetime(2026, 1, 15, 1, 0, 0, 123456, tzinfo=UTC)
    assert parse_delay({"unit": "at", "at": "2026-01-15T09:00:00z"}).relative is Relative.DEFAULT


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"unit": "day", "value": -1}, "delay.value"),
        ({"unit": "day"}, "delay.value"),
        ({"unit": "hour", "value": None}, "delay.value"),
        ({"unit": "day", "value": "1"}, "delay.value"),
        ({"unit": "day", "value": 1.0}, "delay.value"),
        ({"unit": "day", "value": True}, "delay.value"),
        ({"unit": "day", "value": 3661}, "delay.value"),
        ({"unit": "month", "value": 121}, "delay.value"),
        ({"value": 3}, "delay.unit"),
        ({"unit": "fortnight", "value": 1}, "delay.unit"),
        ({"unit": "Day", "value": 1}, "delay.unit"),
        ({"unit": 1, "value": 1}, "delay.unit"),
        ({"unit": "day", "value": 1, "time": "25:00"}, "delay.time"),
        ({"unit": "day", "value": 1, "time": "9am"}, "delay.time"),
        ({"unit": "day", "value": 1, "time": "09:60"}, "delay.time"),
        ({"unit": "day", "value": 1, "time": "09:00:00"}, "delay.time"),
        ({"unit": "day", "value": 1, "time": 900}, "delay.time"),
        ({"unit": "week", "value": 1, "dayOfWeek": "funday"}, "delay.dayOfWeek"),
        ({"unit": "week", "value": 1, "daysOfWeek": {"funday": True}}, "delay.daysOfWeek"),
        ({"unit": "week", "value": 1, "daysOfWeek": {"monday": 1}}, "delay.daysOfWeek"),
        ({"unit": "week", "value": 1, "daysOfWeek": ["monday"]}, "delay.daysOfWeek"),
        ({"unit": "at"}, "delay.at"),
        ({"unit": "at", "at": "tomorrow"}, "delay.at"),
        ({"unit": "at", "at": "2026-01-15T09:00:00"}, "delay.at"),
        ({"unit": "at", "at": "2026-01-15"}, "delay.at"),
        ({"unit": "at", "at": "2026-02-30T09:00:00Z"}, "delay.at"),
        ({"unit": "at", "at": "20260115T090000Z"}, "delay.at"),
        ({"unit": "at", "at": 1768467600}, "delay.at"),
        ({"unit": "day", "value": 1, "timezone": "Mars/Olympus"}, "delay.timezone"),
        ({"unit": "day", "value": 1, "country": "Philippines"}, "delay.country"),
        ({"unit": "day", "value": 1, "country": "XX"}, "delay.country"),
        ({"unit": "day", "value": 1, "relative": "first"}, "delay.relative"),
        ({"unit": "day", "value": 1, "delayy": 1}, "delay.delayy"),
        ({"unit": "day", "value": 1, "timeZone": "Asia/Manila"}, "delay.timeZone"),
    ],
)
def test_invalid_delays_are_refused_naming_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_delay(raw)
    assert caught.value.context == {"field": field}
    assert caught.value.message


def test_a_delay_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidField) as caught:
        parse_delay(["day", 1])  # type: ignore[arg-type]
    assert caught.value.context == {"field": "delay"}


# --- Display ----------------------------------------------------------------------------------


def test_a_fire_time_is_described_in_utc_and_local_time() -> None:
    moment = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
    assert describe_fire_time(moment, MANILA) == (
        "2026-05-04T01:00:00Z",
        "2026-05-04T09:00:00+08:00",
    )
    assert describe_fire_time(moment, NEW_YORK)[1] == "2026-05-03T21:00:00-04:00"
    precise = moment + timedelta(microseconds=250)
    assert describe_fire_time(precise, ZoneInfo("UTC")) == (
        "2026-05-04T01:00:00.000250Z",
        "2026-05-04T01:00:00.000250+00:00",
    )


def test_describing_a_naive_moment_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        describe_fire_time(datetime(2026, 1, 1), MANILA)


# --- Properties -------------------------------------------------------------------------------


@st.composite
def bases_and_zones(draw: st.DrawFn) -> tuple[datetime, ZoneInfo]:
    """A zone and an existing local moment in 2026 (either occurrence of a doubled hour)."""
    zone = draw(st.sampled_from([NEW_YORK, LONDON, MANILA, LORD_HOWE]))
    base = draw(
        st.datetimes(
            min_value=datetime(2026, 1, 1),
            max_value=datetime(2026, 12, 31, 23, 59, 59),
            timezones=st.just(zone),
            allow_imaginary=False,
        )
    )
    return base, zone


@settings(max_examples=200, deadline=None)
@given(
    base_and_zone=bases_and_zones(),
    unit=st.sampled_from([DelayUnit.DAY, DelayUnit.WEEK]),
    value=st.integers(min_value=0, max_value=8),
    wall=st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59])),
    days=st.frozensets(st.integers(0, 6)),
)
def test_day_and_week_delays_with_a_time_fire_after_the_base_at_that_time_and_in_order(
    base_and_zone: tuple[datetime, ZoneInfo],
    unit: DelayUnit,
    value: int,
    wall: time,
    days: frozenset[int],
) -> None:
    """With a time, every value (0 included) fires strictly after the base: 0 is "upcoming"."""
    base, zone = base_and_zone
    delay = Delay(unit, value, wall, None, None, days, None, Relative.DEFAULT)
    result = compute_fire_time(delay, base, zone)
    later = compute_fire_time(
        Delay(unit, value + 1, wall, None, None, days, None, Relative.DEFAULT), base, zone
    )

    assert result > base
    assert later >= result
    local = result.astimezone(zone)
    if local.time() != wall:
        # Only a wall time that does not exist that day may move, and only to the gap's end.
        wanted = datetime.combine(local.date(), wall, tzinfo=zone)
        assert wanted.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wanted.replace(
            tzinfo=None
        )
        assert (result - timedelta(seconds=1)).astimezone(zone).utcoffset() != local.utcoffset()
    if unit is DelayUnit.WEEK and days:
        assert local.weekday() in days
    if unit is DelayUnit.DAY:
        elapsed_days = (local.date() - base.astimezone(zone).date()).days
        assert elapsed_days == value or (value == 0 and elapsed_days == 1)


def test_a_delay_time_is_in_its_timezone_else_its_countrys_else_utc() -> None:
    plain = parse_delay({"unit": "day", "value": 1, "time": "09:00"})
    assert choose_delay_zone(plain) == ZoneInfo("UTC")
    by_country = parse_delay({"unit": "day", "value": 1, "time": "09:00", "country": "PH"})
    assert choose_delay_zone(by_country) == MANILA
    both = {"unit": "day", "value": 1, "time": "09:00", "timezone": "Europe/London"}
    assert choose_delay_zone(parse_delay({**both, "country": "PH"})) == LONDON
    assert choose_delay_zone(parse_delay(both), MANILA) == MANILA


def test_one_day_at_nine_without_a_zone_is_nine_utc_for_any_contact() -> None:
    # The spec: "Optional timezone for the specified 'time', defaults to UTC if not provided".
    delay = parse_delay({"unit": "day", "value": 1, "time": "09:00"})
    now = datetime(2026, 1, 30, 12, 0, tzinfo=UTC)
    assert compute_fire_time(delay, now, choose_delay_zone(delay)) == datetime(
        2026, 1, 31, 9, 0, tzinfo=UTC
    )
    in_manila = parse_delay({"unit": "day", "value": 1, "time": "09:00", "country": "PH"})
    assert compute_fire_time(in_manila, now, choose_delay_zone(in_manila)) == datetime(
        2026, 1, 31, 9, 0, tzinfo=MANILA
    )
