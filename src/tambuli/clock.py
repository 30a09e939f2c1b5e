"""The one place that reads the wall clock; everything else takes a Clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand, so schedules and retries need no sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")

    def now(self) -> datetime:
        """Return the fake current time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the fake time forward by delta."""
        self._now += delta

    def set(self, moment: datetime) -> None:
        """Jump to a given moment."""
        self._now = moment


# The rows of a batch, and the answers to the requests it wrote, mostly share their times.
@lru_cache(maxsize=1024)
def format_utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a "Z", as engageSPARK writes times."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat is C code and about 40 % faster than strftime: this runs for every time field
    # of every response.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
