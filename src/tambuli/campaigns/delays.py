"""The engageSPARK `delay` object: validation, time-zone choice and the moment a delay fires."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from tambuli.errors import InvalidField


class DelayUnit(StrEnum):
    """What `value` counts."""

    NONE = ""  # no delay: fire at the base moment
    SECOND = "second"  # exact elapsed seconds
    MINUTE = "minute"  # exact elapsed minutes
    HOUR = "hour"  # exact elapsed hours
    DAY = "day"  # calendar days in local time, optionally at `time`
    WEEK = "week"  # calendar weeks in local time, optionally on `daysOfWeek` at `time`
    MONTH = "month"  # calendar months in local time, clamped to the month's last day
    AT = "at"  # a fixed moment given in `at`; every other field is ignored


class Relative(StrEnum):
    """Which moment the delay counts from; the caller supplies both."""

    DEFAULT = ""  # the caller's default (a subscription's start, a step's previous step)
    PREVIOUS = "previous"  # the moment the previous campaign step fired
    INITIAL = "initial"  # the moment the subscription started


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KNOWN_KEYS = frozenset(
    {"unit", "value", "time", "timezone", "country", "daysOfWeek", "dayOfWeek", "at", "relative"}
)
# "Ten years worth" of each unit; larger values are typos and would overflow datetime.
MAX_VALUES: Mapping[DelayUnit, int] = {
    DelayUnit.SECOND: 10 * 366 * 24 * 3600,
    DelayUnit.MINUTE: 10 * 366 * 24 * 60,
    DelayUnit.HOUR: 10 * 366 * 24,
    DelayUnit.DAY: 10 * 366,
    DelayUnit.WEEK: 10 * 53,
    DelayUnit.MONTH: 10 * 12,
}
ELAPSED_UNITS: Mapping[DelayUnit, timedelta] = {
    DelayUnit.SECOND: timedelta(seconds=1),
    DelayUnit.MINUTE: timedelta(minutes=1),
    DelayUnit.HOUR: timedelta(hours=1),
}
EARLIEST_AT = 1970
LATEST_AT = 2200
TIME_PATTERN = re.compile(r"(\d{1,2}):(\d{2})")
RFC3339_PATTERN = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)
ZONE_KEY_PATTERN = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
ChoiceT = TypeVar("ChoiceT", bound=StrEnum)
# These exist on many hosts but name the host's own setting, not a place.
HOST_ZONE_KEYS = frozenset({"localtime", "posixrules"})
MAX_ZONE_KEY = 64


@dataclass(frozen=True)
class Delay:
    """A validated `delay` object; fields that do not apply to `unit` are kept but ignored."""

    unit: DelayUnit
    value: int
    time_of_day: time | None
    timezone: str | None
    country: str | None
    days_of_week: frozenset[int]
    at: datetime | None
    relative: Relative


NO_DELAY = Delay(DelayUnit.NONE, 0, None, None, None, frozenset(), None, Relative.DEFAULT)


def parse_delay(raw: Mapping[str, object] | None) -> Delay:
    """Validate an engageSPARK `delay` JSON object; None or {} means no delay."""
    if raw is None:
        return NO_DELAY
    # Typed as a Mapping, but it comes straight from a JSON body that may hold anything.
    if not isinstance(raw, Mapping):
        raise InvalidField("delay must be an object", {"field": "delay"})
    unknown = sorted(str(key) for key in raw if key not in KNOWN_KEYS)
    if unknown:
        raise _invalid(unknown[0], f"Unknown delay field {unknown[0]!r}")
    # JSON null reads as a missing field, so clients that serialise unset fields still work.
    given = {key: item for key, item in raw.items() if item is not None}
    unit = _parse_choice(given, "unit", DelayUnit)
    relative = _parse_choice(given, "relative", Relative)
    value = _parse_value(given, unit)
    at = _parse_at(given.get("at"))
    if unit is DelayUnit.AT and at is None:
        raise _invalid("at", 'delay.at is required when the unit is "at"')
    timezone = _read_text(given, "timezone") or None
    if timezone is not None:
        _load_zone(timezone)
    return Delay(
        unit=unit,
        value=value,
        time_of_day=_parse_time_of_day(_read_text(given, "time")),
        timezone=timezone,
        country=_parse_country(_read_text(given, "country")),
        days_of_week=_parse_days_of_week(given.get("daysOfWeek"), _read_text(given, "dayOfWeek")),
        at=at,
        relative=relative,
    )


def choose_delay_zone(delay: Delay, override: ZoneInfo | None = None) -> ZoneInfo:
    """The zone of a delay's `time`: `override` if given, else the delay's `timezone`, else
    its `country`'s, else UTC, as the spec's schema_sub_delay says (never the contact's)."""
    if override is not None:
        return override
    return resolve_zone(delay.timezone, delay.country, None)


def resolve_zone(timezone: str | None, country: str | None, phone_digits: str | None) -> ZoneInfo:
    """Pick the zone: explicit name, else the country's, else the phone number's, else UTC."""
    if timezone:
        return _load_zone(timezone)
    if country:
        region = _parse_country(country)
        example = phonenumbers.example_number(region) if region else None
        zone = _find_number_zone(example)
        if zone is not None:
            return zone
    if phone_digits:
        try:
            number = phonenumbers.parse("+" + phone_digits.lstrip("+"), None)
        except phonenumbers.NumberParseException:
            # A stored contact number always parses; a bad one only loses its zone hint.
            number = None
        zone = _find_number_zone(number)
        if zone is None and number is not None and number.country_code is not None:
            # A number in no range phonenumbers knows (accepted for its possible length) is
            # placed in its calling code's country.
            region = phonenumbers.region_code_for_country_code(number.country_code)
            zone = _find_number_zone(phonenumbers.example_number(region))
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def compute_fire_time(
    delay: Delay, base: datetime, zone: ZoneInfo, day_zone: ZoneInfo | None = None
) -> datetime:
    """Return the aware UTC moment a delay counted from `base` fires.

    The delay's `time` is read in `zone`; its days are counted on `base`'s calendar in
    `day_zone` (default `zone`), so a reminder date keeps the day it was given in.
    """
    if base.tzinfo is None or base.utcoffset() is None:
        raise ValueError("base must be an aware datetime")
    try:
        return _compute_fire_time(delay, base.astimezone(UTC), zone, day_zone or zone)
    except (OverflowError, ValueError) as exc:
        # date() says ValueError and date arithmetic says OverflowError past year 9999.
        raise _invalid("value", "The delay ends beyond the supported calendar") from exc


def describe_fire_time(moment: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """Format a moment as (UTC RFC 3339 with "Z", local RFC 3339 with its offset)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be an aware datetime")
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    in_utc = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"
    return in_utc, moment.astimezone(zone).isoformat(timespec=spec)


def _compute_fire_time(
    delay: Delay, base: datetime, zone: ZoneInfo, day_zone: ZoneInfo
) -> datetime:
    # `base` is in UTC here: aware arithmetic within one zone would add wall-clock time, and
    # == across zones is always False for a base in a DST fold (PEP 495).
    if delay.unit is DelayUnit.NONE:
        return base
    if delay.unit is DelayUnit.AT:
        # A moment already past is returned as is; the scheduler treats it as due now.
        assert delay.at is not None, "parse_delay guarantees `at` for the at unit"
        return delay.at.astimezone(UTC)
    if delay.unit in ELAPSED_UNITS:
        return base + delay.value * ELAPSED_UNITS[delay.unit]
    local = base.astimezone(day_zone)
    wall, wall_zone = read_wall_time(delay, local, zone)
    # "0 days" without a time is the base itself: re-reading its wall clock could land on
    # the other side of a DST change (a fall-back base in the second occurrence).
    if delay.value == 0 and delay.time_of_day is None and not _needs_weekday_move(delay, local):
        return base
    if delay.unit is DelayUnit.MONTH:
        day = _add_months(local.date(), delay.value)
    elif delay.unit is DelayUnit.WEEK:
        day = _move_to_allowed_day(local.date() + timedelta(weeks=delay.value), delay)
    else:
        day = local.date() + timedelta(days=delay.value)
    fire = _localize(datetime.combine(day, wall), wall_zone)
    # Only value 0 can land on or before the base: "the upcoming HH:MM" then means a later day.
    while fire <= base:
        day = day + timedelta(days=1)
        if delay.unit is DelayUnit.WEEK:
            day = _move_to_allowed_day(day, delay)
        fire = _localize(datetime.combine(day, wall), wall_zone)
    return fire


def read_wall_time(delay: Delay, local_base: datetime, zone: ZoneInfo) -> tuple[time, ZoneInfo]:
    """The wall time a day-counted delay fires at, and its zone: the delay's `time` in `zone`,
    else the base's own time of day in the base's zone."""
    if delay.time_of_day is None:
        assert isinstance(local_base.tzinfo, ZoneInfo), "a base is read in a named zone"
        return local_base.time().replace(fold=0), local_base.tzinfo
    return delay.time_of_day, zone


def _needs_weekday_move(delay: Delay, local: datetime) -> bool:
    return (
        delay.unit is DelayUnit.WEEK
        and bool(delay.days_of_week)
        and local.weekday() not in delay.days_of_week
    )


def _move_to_allowed_day(day: date, delay: Delay) -> date:
    """Return the first day on or after `day` whose weekday the delay allows."""
    if not delay.days_of_week:
        return day
    offset = min((weekday - day.weekday()) % 7 for weekday in delay.days_of_week)
    return day + timedelta(days=offset)


def _add_months(day: date, months: int) -> date:
    """Add calendar months, clamping to the last day of a shorter month (Jan 31 -> Feb 28/29)."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (first_of_next - timedelta(days=1)).day
    return date(year, month + 1, min(day.day, last_day))


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """Turn a naive local time into aware UTC: first occurrence if doubled, gap's end if missing."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap fold=1 reads the wall clock with the later offset, giving an instant before the
    # transition; fold=0 gives one after it. The transition itself is the first valid instant.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _find_transition(before, first, zone)


def _find_transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """Binary-search the instant the zone's offset changes between two UTC instants."""
    low = before.replace(microsecond=0)
    offset_before = low.astimezone(zone).utcoffset()
    # tzdata transitions fall on whole seconds, so searching whole seconds is exact.
    low_second, high_second = 0, int((after - low).total_seconds()) + 1
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if (low + timedelta(seconds=middle)).astimezone(zone).utcoffset() == offset_before:
            low_second = middle
        else:
            high_second = middle
    return low + timedelta(seconds=high_second)


def _find_number_zone(number: phonenumbers.PhoneNumber | None) -> ZoneInfo | None:
    if number is None:
        return None
    for name in phone_zones.time_zones_for_number(number):
        if name == phone_zones.UNKNOWN_TIMEZONE:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # phonenumbers may know a zone newer than the host's tz database.
            continue
    return None


def _load_zone(name: str) -> ZoneInfo:
    if len(name) > MAX_ZONE_KEY or name in HOST_ZONE_KEYS or not ZONE_KEY_PATTERN.fullmatch(name):
        raise _invalid("timezone", f"Unknown time zone {name[:MAX_ZONE_KEY]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _invalid("timezone", f"Unknown time zone {name!r}") from exc


def _parse_choice(given: Mapping[str, object], name: str, choices: type[ChoiceT]) -> ChoiceT:
    text = _read_text(given, name)
    try:
        return choices(text)
    except ValueError:
        allowed = ", ".join(repr(choice.value) for choice in choices)
        raise _invalid(name, f"delay.{name} must be one of {allowed}, not {text!r}") from None


def _parse_value(given: Mapping[str, object], unit: DelayUnit) -> int:
    value = given.get("value")
    if value is None:
        if unit in MAX_VALUES:
            raise _invalid("value", f'delay.value is required with the unit "{unit}"')
        return 0
    # bool is an int subclass in Python but not a JSON number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("value", "delay.value must be an integer")
    if value < 0:
        raise _invalid("value", "delay.value must not be negative")
    if unit is DelayUnit.NONE and value != 0:
        raise _invalid("unit", "delay.unit is required when delay.value is set")
    limit = MAX_VALUES.get(unit)
    if limit is not None and value > limit:
        raise _invalid("value", f"delay.value must be at most {limit} {unit}s (ten years)")
    return value


def _parse_time_of_day(text: str) -> time | None:
    if not text:
        return None
    match = TIME_PATTERN.fullmatch(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise _invalid("time", f'delay.time must be "HH:MM" (00:00 to 23:59), not {text!r}')
    return time(int(match[1]), int(match[2]))


def _parse_country(text: str) -> str | None:
    if not text:
        return None
    region = text.strip().upper()
    if len(region) != 2 or not region.isascii() or region not in phonenumbers.SUPPORTED_REGIONS:
        raise _invalid("country", f"delay.country must be a two-letter country code, not {text!r}")
    return region


def _parse_days_of_week(days: object, legacy: str) -> frozenset[int]:
    chosen: set[int] = set()
    if days is not None:
        if not isinstance(days, Mapping):
            raise _invalid("daysOfWeek", "delay.daysOfWeek must be an object of weekday flags")
        for name, flag in days.items():
            if name not in WEEKDAYS:
                raise _invalid("daysOfWeek", f"Unknown weekday {name!r} in delay.daysOfWeek")
            if not isinstance(flag, bool):
                raise _invalid("daysOfWeek", f"delay.daysOfWeek.{name} must be true or false")
            if flag:
                chosen.add(WEEKDAYS.index(name))
    if legacy:
        if legacy.lower() not in WEEKDAYS:
            raise _invalid("dayOfWeek", f"delay.dayOfWeek must be a weekday name, not {legacy!r}")
        # Both forms together add up rather than fight.
        chosen.add(WEEKDAYS.index(legacy.lower()))
    return frozenset(chosen)


def _parse_at(text: object) -> datetime | None:
    if text is None or text == "":
        return None
    if not isinstance(text, str) or not RFC3339_PATTERN.fullmatch(text):
        raise _invalid("at", f"delay.at must be an RFC 3339 date-time, not {text!r}")
    try:
        # Python 3.11 reads "Z" and extra fraction digits (cut to microseconds), not "z"/"t".
        moment = datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _invalid("at", f"delay.at is not a real date-time: {text!r}") from exc
    # Far-off moments are typos, and every later step must still fit in the calendar.
    if not EARLIEST_AT <= moment.year <= LATEST_AT:
        raise _invalid("at", f"delay.at must be between {EARLIEST_AT} and {LATEST_AT}")
    return moment


def _read_text(given: Mapping[str, object], name: str) -> str:
    text = given.get(name, "")
    if not isinstance(text, str):
        raise _invalid(name, f"delay.{name} must be a string")
    return text


def _invalid(name: str, message: str) -> InvalidField:
    return InvalidField(message, {"field": f"delay.{name}"})
