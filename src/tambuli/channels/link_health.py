"""The state and counts of a channel that makes one HTTP request per message.

Such a channel has no connection to watch: it is UP until closed, except that for a while
after its peer could not be reached it reports itself DOWN, so routes fail over and traffic
waits; the next accepted message, or the end of that while, makes it UP again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from tambuli.channels.base import ChannelHealth, LinkState
from tambuli.clock import Clock


class LinkHealth:
    """A request-per-message channel's link state and its counts since start."""

    def __init__(self, clock: Clock, down_for: timedelta) -> None:
        self._clock = clock
        self._down_for = down_for
        self._down_until: datetime | None = None
        self.stopped = False
        self.in_flight = 0
        self.parts_sent = 0
        self.parts_refused = 0
        self.throttled = 0
        self.last_error = ""

    def read_state(self) -> LinkState:
        """STOPPED once closed; DOWN for a while after the peer could not be reached; else UP."""
        if self.stopped:
            return LinkState.STOPPED
        if self._down_until is not None and self._clock.now() < self._down_until:
            return LinkState.DOWN
        return LinkState.UP

    @contextmanager
    def count_in_flight(self) -> Iterator[None]:
        """Count one request in flight while the block runs."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def record_accepted(self, parts: int) -> None:
        """Count an accepted hand-off: the peer answered, so the link is up again."""
        self.parts_sent += parts
        self._down_until = None

    def record_refused(self, parts: int, error: str, *, throttled: bool, unreachable: bool) -> None:
        """Count a refused hand-off; one that says the peer itself is in trouble (unreachable,
        no answer in time, 5xx) reports the link DOWN for a while."""
        self.parts_refused += parts
        self.last_error = error
        if throttled:
            self.throttled += 1
        if unreachable:
            self._down_until = self._clock.now() + self._down_for

    def describe(self, name: str, kind: str, parts_per_second: float, window: int) -> ChannelHealth:
        """The channel's health: read_state and these counts."""
        return ChannelHealth(
            name=name,
            kind=kind,
            state=self.read_state(),
            parts_per_second=parts_per_second,
            window=window,
            in_flight=self.in_flight,
            parts_sent=self.parts_sent,
            parts_refused=self.parts_refused,
            throttled=self.throttled,
            last_error=self.last_error,
        )
