"""A step's delay in words, as the console shows it: "1 day later at 09:00 Asia/Manila"."""

from __future__ import annotations

from datetime import UTC

from tambuli.campaigns.delays import WEEKDAYS, Delay, DelayUnit, Relative


def describe_delay(delay: Delay, *, before: bool = False, reminder: bool = False) -> str:
    """The delay in words; `before` and `reminder` count from a reminder's date."""
    if delay.unit is DelayUnit.AT:
        assert delay.at is not None, "parse_delay requires `at` for this unit"
        return "on " + delay.at.astimezone(UTC).strftime("%Y-%m-%d at %H:%M UTC")
    timed = delay.time_of_day is not None and delay.unit not in _ELAPSED
    if timed and delay.value == 0 and not reminder:
        # "0 days 09:00" is the next 09:00 to come.
        assert delay.time_of_day is not None
        return f"at the next {delay.time_of_day.strftime('%H:%M')} {_zone_words(delay)}"
    if delay.unit is DelayUnit.NONE or delay.value == 0:
        words = _counted_from_base(delay, reminder)
    else:
        amount = f"{delay.value} {delay.unit.value}{'' if delay.value == 1 else 's'}"
        words = f"{amount} {_direction(delay, before=before, reminder=reminder)}"
    if delay.unit is DelayUnit.WEEK and delay.days_of_week:
        days = [WEEKDAYS[d].capitalize() for d in sorted(delay.days_of_week)]
        words += " on " + (" or ".join(days) if len(days) <= 2 else ", ".join(days))
    if timed:
        assert delay.time_of_day is not None
        words += f" at {delay.time_of_day.strftime('%H:%M')} {_zone_words(delay)}"
    return words


_ELAPSED = frozenset({DelayUnit.NONE, DelayUnit.SECOND, DelayUnit.MINUTE, DelayUnit.HOUR})


def _counted_from_base(delay: Delay, reminder: bool) -> str:
    """A zero delay: the base moment itself."""
    if reminder:
        return "on the date"
    if delay.relative is Relative.INITIAL:
        return "at the start"
    return "at once"


def _direction(delay: Delay, *, before: bool, reminder: bool) -> str:
    if reminder:
        return "before the date" if before else "after the date"
    if delay.relative is Relative.INITIAL:
        return "after the start"
    return "later"


def _zone_words(delay: Delay) -> str:
    """The zone the time is read in: the delay's timezone, else its country's, else UTC."""
    if delay.timezone:
        return delay.timezone
    if delay.country:
        return f"{delay.country} time"
    return "UTC"
