"""A campaign's sending window: the local hours in which a contact may be sent messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tambuli.campaigns.delays import _find_transition
from tambuli.errors import InvalidField

FIELD = "sendingWindow"
KNOWN_KEYS = frozenset({"from", "until"})
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
CLOCK_PATTERN = re.compile(r"([0-9]{1,2}):([0-9]{2})")
# Offset changes are weeks apart in every tzdata zone, so sampling the offset this often
# cannot step over a change and back again.
OFFSET_SAMPLE_STEP = timedelta(hours=6)


@dataclass(frozen=True)
class SendingWindow:
    """Local wall-clock hours [opens, closes); closes < opens means the window spans midnight."""

    opens: time
    closes: time

    def contains(self, wall: time) -> bool:
        """Tell whether a local wall time is inside the window (opens inclusive, closes not)."""
        if self.opens < self.closes:
            return self.opens <= wall < self.closes
        return wall >= self.opens or wall < self.closes


def parse_sending_window(raw: object) -> SendingWindow | None:
    """Validate `sendingWindow` {"from": "HH:MM", "until": "HH:MM"}; None or {} means no window."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidField(
            f'{FIELD} must be an object like {{"from": "08:00", "until": "20:00"}}',
            {"field": FIELD},
        )
    unknown = sorted(str(key) for key in raw if key not in KNOWN_KEYS)
    if unknown:
        raise InvalidField(f"Unknown {FIELD} field {unknown[0]!r}", {"field": FIELD})
    # Mirrors `delay`: an empty object is how some clients say "not set".
    if not raw:
        return None
    opens = _parse_clock(raw.get("from"), "from")
    closes = _parse_clock(raw.get("until"), "until")
    if opens == closes:
        raise InvalidField(
            f"{FIELD}.from and {FIELD}.until must differ: an empty window and a whole-day window"
            f" would look the same; leave out {FIELD} to send at any time",
            {"field": FIELD},
        )
    return SendingWindow(opens, closes)


def fit_into_window(moment: datetime, window: SendingWindow | None, zone: ZoneInfo) -> datetime:
    """Return `moment` in UTC if its wall time is in the window, else when the window next opens."""
    start = _to_utc(moment)
    if window is None:
        return start
    return _find_crossing(start, window, zone, into=True)


def find_window_close(
    moment: datetime, window: SendingWindow | None, zone: ZoneInfo
) -> datetime | None:
    """Return when the window holding `moment` (or else the next window) closes, in UTC."""
    start = _to_utc(moment)
    if window is None:
        return None
    opened = _find_crossing(start, window, zone, into=True)
    return _find_crossing(opened, window, zone, into=False)


def _find_crossing(
    start: datetime, window: SendingWindow, zone: ZoneInfo, *, into: bool
) -> datetime:
    """Return the first instant from `start` on whose wall time is inside (or outside) the window.

    Between two offset changes the wall clock runs evenly, so it can only enter the window at
    `opens` and leave it at `closes`; an offset change can also jump it in or out. Hence: aim
    for the next edge on the wall clock, and if the offset changes first, start again from
    the change. A spring-forward gap holding the edge so yields the first instant after the
    gap, and a fall-back fold the first occurrence (the second too, if the clock re-enters).
    """
    edge = window.opens if into else window.closes
    while True:
        local = start.astimezone(zone)
        if window.contains(local.time()) == into:
            return start
        wall = local.replace(tzinfo=None)
        target = datetime.combine(wall.date(), edge)
        if target <= wall:
            target += timedelta(days=1)
        # Where the edge falls if the offset stays as it is now.
        reached = start + (target - wall)
        change = _find_offset_change(start, reached, zone)
        if change is None:
            return reached
        start = change


def _find_offset_change(start: datetime, until: datetime, zone: ZoneInfo) -> datetime | None:
    """Return the first instant in (start, until] with another UTC offset than `start`, if any."""
    offset = start.astimezone(zone).utcoffset()
    low = start
    while low < until:
        high = min(low + OFFSET_SAMPLE_STEP, until)
        if high.astimezone(zone).utcoffset() != offset:
            return _find_transition(low, high, zone)
        low = high
    return None


def _parse_clock(text: object, name: str) -> time:
    field = f"{FIELD}.{name}"
    if text is None:
        raise InvalidField(f"{field} is required", {"field": field})
    match = CLOCK_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidField(
            f'{field} must be "HH:MM" (00:00 to 23:59), not {text!r}', {"field": field}
        )
    return time(int(match[1]), int(match[2]))


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be an aware datetime")
    return moment.astimezone(UTC)
