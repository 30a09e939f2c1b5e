"""Reminder campaigns: a subscription's date, and steps counted before or after it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tambuli.campaigns.delays import (
    ELAPSED_UNITS,
    RFC3339_PATTERN,
    Delay,
    DelayUnit,
    _add_months,
    _localize,
    _needs_weekday_move,
    compute_fire_time,
    read_wall_time,
)
from tambuli.errors import InvalidField

# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
LOCAL_PATTERN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
)
DATE_FORMS = '"YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (local) or RFC 3339 with "Z" or an offset'


def parse_reminder_date(text: object, zone: ZoneInfo, field: str) -> datetime:
    """Read a reminder date (a local day or wall time in `zone`, or an absolute moment) as UTC."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidField(f"{field} must be a date: {DATE_FORMS}", {"field": field})
    # Dates often come from spreadsheets and custom fields, which keep stray spaces.
    given = text.strip()
    try:
        if match := DATE_PATTERN.fullmatch(given):
            # Midnight itself is skipped in a few zones (Havana, Beirut): _localize moves on.
            return _localize(datetime(int(match[1]), int(match[2]), int(match[3])), zone)
        if match := LOCAL_PATTERN.fullmatch(given):
            year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
            wall = datetime(year, month, day, hour, minute, int(match[6] or 0))
            return _localize(wall, zone)
        if RFC3339_PATTERN.fullmatch(given):
            # Python 3.11 reads "Z" and extra fraction digits (cut to microseconds), not "z"/"t".
            return datetime.fromisoformat(given.upper()).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        # datetime() refuses 2026-02-30 and 25:00; astimezone() overflows near year 1 and 9999.
        raise InvalidField(f"{field} is not a real date: {given[:64]!r}", {"field": field}) from exc
    raise InvalidField(f"{field} must be {DATE_FORMS}, not {given[:64]!r}", {"field": field})


def compute_reminder_time(
    delay: Delay, before: bool, anchor: datetime, zone: ZoneInfo, day_zone: ZoneInfo | None = None
) -> datetime:
    """Return the aware UTC moment a reminder step fires: `delay` before or after `anchor`.

    The delay's `time` is read in `zone`, its days counted on the date's calendar in
    `day_zone` (the zone the date was read in; default `zone`).
    """
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError("anchor must be an aware datetime")
    if not before:
        return compute_fire_time(delay, anchor, zone, day_zone)
    try:
        return _count_back(delay, anchor.astimezone(UTC), zone, day_zone or zone)
    except (OverflowError, ValueError) as exc:
        raise InvalidField(
            "The reminder falls before the supported calendar", {"field": "delay"}
        ) from exc


def _count_back(delay: Delay, anchor: datetime, zone: ZoneInfo, day_zone: ZoneInfo) -> datetime:
    # `anchor` is in UTC here, for the same reasons as in delays._compute_fire_time.
    if delay.unit is DelayUnit.NONE:
        return anchor
    if delay.unit is DelayUnit.AT:
        assert delay.at is not None, "parse_delay guarantees `at` for the at unit"
        return delay.at.astimezone(UTC)
    if delay.unit in ELAPSED_UNITS:
        return anchor - delay.value * ELAPSED_UNITS[delay.unit]
    local = anchor.astimezone(day_zone)
    if delay.value == 0 and delay.time_of_day is None and not _needs_weekday_move(delay, local):
        # Re-reading the wall clock could land on the other side of a fall-back fold.
        return anchor
    # Unlike "0 days after", "0 days before at 09:00" is that day's 09:00 even if it is later
    # than the anchor: "on the day at nine" is the usual reminder for a date-only anchor.
    if delay.unit is DelayUnit.MONTH:
        day = _add_months(local.date(), -delay.value)
    elif delay.unit is DelayUnit.WEEK:
        day = _move_back_to_allowed_day(local.date() - timedelta(weeks=delay.value), delay)
    else:
        day = local.date() - timedelta(days=delay.value)
    wall, wall_zone = read_wall_time(delay, local, zone)
    return _localize(datetime.combine(day, wall), wall_zone)


def _move_back_to_allowed_day(day: date, delay: Delay) -> date:
    """Return the last day on or before `day` whose weekday the delay allows."""
    if not delay.days_of_week:
        return day
    offset = min((day.weekday() - weekday) % 7 for weekday in delay.days_of_week)
    return day - timedelta(days=offset)
