"""Sending windows: parsing, fitting a moment into the window, and when the window closes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.campaigns.quiet_hours import (
    SendingWindow,
    find_window_close,
    fit_into_window,
    parse_sending_window,
)
from tambuli.errors import InvalidField

MANILA = ZoneInfo("Asia/Manila")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # half-hour DST shifts
HAVANA = ZoneInfo("America/Havana")  # DST starts at midnight: 2026-03-08 00:00 does not exist

DAYTIME = SendingWindow(time(8, 0), time(20, 0))
OVERNIGHT = SendingWindow(time(22, 0), time(6, 0))


def window(opens: str, closes: str) -> SendingWindow:
    """A window from two "HH:MM" strings."""
    parsed = parse_sending_window({"from": opens, "until": closes})
    assert parsed is not None
    return parsed


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware local datetime (first occurrence of a doubled hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"from": "08:00", "until": "20:00"}, SendingWindow(time(8, 0), time(20, 0))),
        ({"from": "8:00", "until": "20:30"}, SendingWindow(time(8, 0), time(20, 30))),
        ({"from": "22:00", "until": "06:00"}, SendingWindow(time(22, 0), time(6, 0))),
        ({"from": "00:00", "until": "23:59"}, SendingWindow(time(0, 0), time(23, 59))),
        ({"from": "09:15", "until": "00:00"}, SendingWindow(time(9, 15), time(0, 0))),
    ],
)
def test_a_window_is_parsed_from_two_wall_times(
    raw: dict[str, object], expected: SendingWindow
) -> None:
    assert parse_sending_window(raw) == expected


@pytest.mark.parametrize("raw", [None, {}])
def test_no_window_or_an_empty_object_is_no_window(raw: object) -> None:
    assert parse_sending_window(raw) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("08:00-20:00", "sendingWindow"),
        (["08:00", "20:00"], "sendingWindow"),
        (8, "sendingWindow"),
        ({"from": "08:00", "until": "20:00", "days": "weekdays"}, "sendingWindow"),
        ({"from": "08:00", "to": "20:00"}, "sendingWindow"),
        ({"from": "08:00", "until": "08:00"}, "sendingWindow"),
        ({"from": "0:00", "until": "00:00"}, "sendingWindow"),
        ({"until": "20:00"}, "sendingWindow.from"),
        ({"from": None, "until": "20:00"}, "sendingWindow.from"),
        ({"from": "24:00", "until": "20:00"}, "sendingWindow.from"),
        ({"from": "08:60", "until": "20:00"}, "sendingWindow.from"),
        ({"from": "8", "until": "20:00"}, "sendingWindow.from"),
        ({"from": "08:00:00", "until": "20:00"}, "sendingWindow.from"),
        ({"from": "8am", "until": "20:00"}, "sendingWindow.from"),
        ({"from": " 08:00", "until": "20:00"}, "sendingWindow.from"),
        ({"from": "٠٨:٠٠", "until": "20:00"}, "sendingWindow.from"),
        ({"from": 800, "until": "20:00"}, "sendingWindow.from"),
        ({"from": "08:00"}, "sendingWindow.until"),
        ({"from": "08:00", "until": "8:5"}, "sendingWindow.until"),
        ({"from": "08:00", "until": ""}, "sendingWindow.until"),
    ],
)
def test_invalid_windows_are_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_sending_window(raw)
    assert caught.value.context == {"field": field}
    assert caught.value.message


def test_an_equal_opening_and_closing_time_explains_why_it_is_refused() -> None:
    with pytest.raises(InvalidField, match="whole-day"):
        parse_sending_window({"from": "09:00", "until": "09:00"})


# --- Inside, outside and at the edges (Manila has no DST) ------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(MANILA, 2026, 5, 4, 7, 59), local(MANILA, 2026, 5, 4, 8, 0)),
        (local(MANILA, 2026, 5, 4, 8, 0), local(MANILA, 2026, 5, 4, 8, 0)),
        (local(MANILA, 2026, 5, 4, 12, 34), local(MANILA, 2026, 5, 4, 12, 34)),
        (local(MANILA, 2026, 5, 4, 19, 59), local(MANILA, 2026, 5, 4, 19, 59)),
        (local(MANILA, 2026, 5, 4, 20, 0), local(MANILA, 2026, 5, 5, 8, 0)),
        (local(MANILA, 2026, 5, 4, 23, 30), local(MANILA, 2026, 5, 5, 8, 0)),
        (local(MANILA, 2026, 5, 4, 0, 0), local(MANILA, 2026, 5, 4, 8, 0)),
        (local(MANILA, 2026, 12, 31, 21, 0), local(MANILA, 2027, 1, 1, 8, 0)),
    ],
)
def test_a_daytime_window_opens_inclusively_and_closes_exclusively(
    moment: datetime, expected: datetime
) -> None:
    assert fit_into_window(moment, DAYTIME, MANILA) == expected


def test_the_last_microsecond_before_closing_is_inside() -> None:
    moment = local(MANILA, 2026, 5, 4, 20, 0) - timedelta(microseconds=1)
    assert fit_into_window(moment, DAYTIME, MANILA) == moment


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(MANILA, 2026, 5, 4, 21, 59), local(MANILA, 2026, 5, 4, 22, 0)),
        (local(MANILA, 2026, 5, 4, 22, 0), local(MANILA, 2026, 5, 4, 22, 0)),
        (local(MANILA, 2026, 5, 4, 23, 59), local(MANILA, 2026, 5, 4, 23, 59)),
        (local(MANILA, 2026, 5, 5, 0, 0), local(MANILA, 2026, 5, 5, 0, 0)),
        (local(MANILA, 2026, 5, 5, 5, 59), local(MANILA, 2026, 5, 5, 5, 59)),
        (local(MANILA, 2026, 5, 5, 6, 0), local(MANILA, 2026, 5, 5, 22, 0)),
        (local(MANILA, 2026, 5, 5, 12, 0), local(MANILA, 2026, 5, 5, 22, 0)),
    ],
)
def test_a_window_spanning_midnight(moment: datetime, expected: datetime) -> None:
    assert fit_into_window(moment, OVERNIGHT, MANILA) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(MANILA, 2026, 5, 4, 7, 0), local(MANILA, 2026, 5, 4, 20, 0)),
        (local(MANILA, 2026, 5, 4, 8, 0), local(MANILA, 2026, 5, 4, 20, 0)),
        (local(MANILA, 2026, 5, 4, 19, 59), local(MANILA, 2026, 5, 4, 20, 0)),
        (local(MANILA, 2026, 5, 4, 20, 0), local(MANILA, 2026, 5, 5, 20, 0)),
    ],
)
def test_the_close_of_the_current_or_next_daytime_window(
    moment: datetime, expected: datetime
) -> None:
    assert find_window_close(moment, DAYTIME, MANILA) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(MANILA, 2026, 5, 4, 23, 0), local(MANILA, 2026, 5, 5, 6, 0)),
        (local(MANILA, 2026, 5, 5, 3, 0), local(MANILA, 2026, 5, 5, 6, 0)),
        (local(MANILA, 2026, 5, 5, 6, 0), local(MANILA, 2026, 5, 6, 6, 0)),
        (local(MANILA, 2026, 5, 5, 12, 0), local(MANILA, 2026, 5, 6, 6, 0)),
    ],
)
def test_the_close_of_a_window_spanning_midnight(moment: datetime, expected: datetime) -> None:
    assert find_window_close(moment, OVERNIGHT, MANILA) == expected


def test_results_are_aware_utc_whatever_the_moment_zone() -> None:
    moment = local(NEW_YORK, 2026, 5, 4, 7, 0)  # 19:00 in Manila
    assert fit_into_window(moment, DAYTIME, MANILA) == utc(2026, 5, 4, 11, 0)
    assert fit_into_window(moment, DAYTIME, MANILA).tzinfo is UTC
    assert fit_into_window(moment, None, MANILA).tzinfo is UTC
    close = find_window_close(moment, DAYTIME, MANILA)
    assert close == utc(2026, 5, 4, 12, 0)
    assert close is not None and close.tzinfo is UTC


def test_without_a_window_any_moment_fits_and_nothing_closes() -> None:
    moment = local(MANILA, 2026, 5, 4, 3, 0)
    assert fit_into_window(moment, None, MANILA) == moment
    assert find_window_close(moment, None, MANILA) is None


def test_a_naive_moment_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        fit_into_window(datetime(2026, 5, 4, 9, 0), DAYTIME, MANILA)
    with pytest.raises(ValueError, match="aware"):
        find_window_close(datetime(2026, 5, 4, 9, 0), DAYTIME, MANILA)


# --- Daylight saving time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "sending", "moment", "expected"),
    [
        # New York springs forward at 02:00 EST (07:00 UTC) to 03:00 EDT.
        (NEW_YORK, window("02:30", "20:00"), local(NEW_YORK, 2026, 3, 8, 0), utc(2026, 3, 8, 7)),
        (NEW_YORK, window("02:30", "20:00"), local(NEW_YORK, 2026, 3, 7, 21), utc(2026, 3, 8, 7)),
        (NEW_YORK, window("02:00", "20:00"), local(NEW_YORK, 2026, 3, 8, 1), utc(2026, 3, 8, 7)),
        (NEW_YORK, window("09:00", "17:00"), local(NEW_YORK, 2026, 3, 7, 18), utc(2026, 3, 8, 13)),
        (
            NEW_YORK,
            window("02:30", "20:00"),
            local(NEW_YORK, 2026, 3, 9, 0),
            utc(2026, 3, 9, 6, 30),
        ),
        # New York falls back at 02:00 EDT (06:00 UTC) to 01:00 EST.
        (
            NEW_YORK,
            window("01:30", "20:00"),
            local(NEW_YORK, 2026, 11, 1, 0),
            utc(2026, 11, 1, 5, 30),
        ),
        (
            NEW_YORK,
            window("09:00", "17:00"),
            local(NEW_YORK, 2026, 10, 31, 18),
            utc(2026, 11, 1, 14),
        ),
        # London springs forward at 01:00 GMT to 02:00 BST, and falls back at 02:00 BST.
        (LONDON, window("01:30", "18:00"), local(LONDON, 2026, 3, 29, 0, 30), utc(2026, 3, 29, 1)),
        (LONDON, window("09:00", "17:00"), local(LONDON, 2026, 3, 28, 18), utc(2026, 3, 29, 8)),
        (
            LONDON,
            window("01:30", "18:00"),
            local(LONDON, 2026, 10, 25, 0),
            utc(2026, 10, 25, 0, 30),
        ),
        (LONDON, window("09:00", "17:00"), local(LONDON, 2026, 10, 24, 20), utc(2026, 10, 25, 9)),
        # Havana skips midnight itself: the window opens when the clock reads 01:00.
        (HAVANA, window("00:00", "06:00"), local(HAVANA, 2026, 3, 7, 23), utc(2026, 3, 8, 5)),
    ],
)
def test_the_window_opens_at_its_local_time_across_dst_changes(
    zone: ZoneInfo, sending: SendingWindow, moment: datetime, expected: datetime
) -> None:
    assert fit_into_window(moment, sending, zone) == expected


def test_an_opening_time_in_the_spring_forward_gap_opens_at_the_end_of_the_gap() -> None:
    result = fit_into_window(local(NEW_YORK, 2026, 3, 8, 0), window("02:30", "20:00"), NEW_YORK)
    assert result.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 0)
    assert (result - timedelta(seconds=1)).astimezone(NEW_YORK).hour == 1


def test_a_window_wholly_inside_the_gap_does_not_open_that_day() -> None:
    sending = window("02:00", "02:30")
    result = fit_into_window(local(NEW_YORK, 2026, 3, 8, 0), sending, NEW_YORK)
    assert result == local(NEW_YORK, 2026, 3, 9, 2, 0)


def test_an_ambiguous_opening_time_opens_at_its_first_occurrence() -> None:
    result = fit_into_window(local(NEW_YORK, 2026, 11, 1, 0), window("01:30", "20:00"), NEW_YORK)
    assert result.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)


def test_a_window_the_clock_falls_back_into_opens_again_in_the_second_occurrence() -> None:
    # 01:45 EDT is past 00:30-01:30, but at 06:00 UTC the clock falls back to 01:00 EST.
    sending = window("00:30", "01:30")
    moment = utc(2026, 11, 1, 5, 45)  # 01:45 EDT
    assert fit_into_window(moment, sending, NEW_YORK) == utc(2026, 11, 1, 6, 0)
    assert find_window_close(moment, sending, NEW_YORK) == utc(2026, 11, 1, 6, 30)
    second_time_round = window("01:00", "01:30")
    assert fit_into_window(moment, second_time_round, NEW_YORK) == utc(2026, 11, 1, 6, 0)


def test_a_moment_in_either_occurrence_of_a_doubled_hour_is_judged_by_its_wall_time() -> None:
    sending = window("01:00", "01:30")
    for moment in (utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 6, 15)):  # 01:15 EDT, 01:15 EST
        assert fit_into_window(moment, sending, NEW_YORK) == moment


@pytest.mark.parametrize(
    ("zone", "sending", "moment", "expected"),
    [
        # A closing time in the gap closes the window when the gap starts.
        (NEW_YORK, window("22:00", "02:30"), local(NEW_YORK, 2026, 3, 8, 1), utc(2026, 3, 8, 7)),
        (NEW_YORK, window("22:00", "02:30"), local(NEW_YORK, 2026, 3, 7, 12), utc(2026, 3, 8, 7)),
        # An ambiguous closing time closes the window at its first occurrence.
        (
            NEW_YORK,
            window("20:00", "01:30"),
            local(NEW_YORK, 2026, 10, 31, 23),
            utc(2026, 11, 1, 5, 30),
        ),
        (
            LONDON,
            window("20:00", "01:30"),
            local(LONDON, 2026, 10, 24, 23),
            utc(2026, 10, 25, 0, 30),
        ),
        (LONDON, window("20:00", "01:30"), local(LONDON, 2026, 3, 28, 23), utc(2026, 3, 29, 1)),
        # A daytime window on a 23-hour or 25-hour day still closes at its wall time.
        (NEW_YORK, DAYTIME, local(NEW_YORK, 2026, 3, 8, 0), utc(2026, 3, 9, 0)),
        (LONDON, DAYTIME, local(LONDON, 2026, 10, 25, 0), utc(2026, 10, 25, 20)),
    ],
)
def test_the_window_closes_at_its_local_time_across_dst_changes(
    zone: ZoneInfo, sending: SendingWindow, moment: datetime, expected: datetime
) -> None:
    assert find_window_close(moment, sending, zone) == expected


@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29)])
def test_manila_has_no_dst_so_the_window_always_opens_at_the_same_utc_time(day: date) -> None:
    moment = datetime.combine(day, time(0, 0), tzinfo=MANILA)
    assert fit_into_window(moment, DAYTIME, MANILA) == datetime.combine(day, time(0, 0), UTC)
    assert find_window_close(moment, DAYTIME, MANILA) == datetime.combine(day, time(12, 0), UTC)


# --- Properties -------------------------------------------------------------------------------

TRANSITION_DAYS = [
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
]


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """A UTC moment in 2026, half the time within a day and a half of a DST change."""
    if draw(st.booleans()):
        return draw(
            st.datetimes(
                min_value=datetime(2026, 1, 1),
                max_value=datetime(2026, 12, 31, 23, 59, 59),
                timezones=st.just(UTC),
            )
        )
    day = draw(st.sampled_from(TRANSITION_DAYS))
    seconds = draw(st.integers(-36 * 3600, 36 * 3600))
    return datetime.combine(day, time(0, 0), UTC) + timedelta(seconds=seconds)


wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))
windows = st.builds(SendingWindow, wall_times, wall_times).filter(lambda w: w.opens != w.closes)
zones = st.sampled_from([NEW_YORK, LONDON, MANILA, LORD_HOWE, HAVANA])


def is_inside(moment: datetime, sending: SendingWindow, zone: ZoneInfo) -> bool:
    """Whether a moment's local wall time is inside the window."""
    return sending.contains(moment.astimezone(zone).time())


def minutes_between(start: datetime, end: datetime) -> list[datetime]:
    """Every whole minute after `start` up to, not including, `end`, plus `start` itself."""
    first = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    count = max(0, int((end - first) / timedelta(minutes=1)) + 1)
    return [start, *(first + k * timedelta(minutes=1) for k in range(count))]


@settings(max_examples=300, deadline=None)
@given(moment=moments(), sending=windows, zone=zones)
def test_fitting_finds_the_first_instant_inside_the_window(
    moment: datetime, sending: SendingWindow, zone: ZoneInfo
) -> None:
    result = fit_into_window(moment, sending, zone)

    assert result.tzinfo is UTC
    assert result >= moment
    assert is_inside(result, sending, zone)
    # A window opens at least every ~25 hours, even across a DST change, unless it lies wholly
    # inside the hour the clocks skip that day (Havana's jump at midnight): then the next day's.
    opens = sending.opens.hour * 60 + sending.opens.minute
    closes = sending.closes.hour * 60 + sending.closes.minute
    longest_wait = timedelta(hours=26 if (closes - opens) % (24 * 60) >= 60 else 50)
    assert result - moment <= longest_wait
    if result > moment:
        assert not is_inside(result - timedelta(microseconds=1), sending, zone)
    for instant in minutes_between(moment, result):
        if instant < result:
            assert not is_inside(instant, sending, zone)


@settings(max_examples=300, deadline=None)
@given(moment=moments(), sending=windows, zone=zones)
def test_the_close_is_the_first_instant_after_the_opening_outside_the_window(
    moment: datetime, sending: SendingWindow, zone: ZoneInfo
) -> None:
    opened = fit_into_window(moment, sending, zone)
    close = find_window_close(moment, sending, zone)

    assert close is not None and close.tzinfo is UTC
    assert close > opened
    assert not is_inside(close, sending, zone)
    assert is_inside(close - timedelta(microseconds=1), sending, zone)
    for instant in minutes_between(opened, close):
        if instant < close:
            assert is_inside(instant, sending, zone)
    # Inside the window, the close is the same from any moment up to it.
    assert find_window_close(opened, sending, zone) == close
