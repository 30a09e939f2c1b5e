"""When to try again after a failure: the one retry policy of messages, pushes, top-ups and
campaign steps.

Pure arithmetic of `now` and a random number the caller passes, so every schedule is testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Past this many doublings the delay is at its maximum anyway; the bound keeps 2**n small.
MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class RetryPolicy:
    """The delay before each retry, and when retrying stops.

    With a `schedule`, the n-th failure waits schedule[n - 1] and there is no retry after the
    last entry; without one, the delay doubles from `base` up to `maximum`. Each delay is scaled
    by a factor in [1 - jitter, 1 + jitter], so that many rows failing at once do not all come
    back at the same moment.
    """

    base: timedelta = timedelta(seconds=10)
    maximum: timedelta = timedelta(minutes=15)
    jitter: float = 0.2
    schedule: tuple[timedelta, ...] = ()

    def find_delay(self, failed_attempts: int, random_unit: float = 0.5) -> timedelta | None:
        """How long to wait after `failed_attempts` failures (counted from 1); None: no retry.

        `random_unit` is a number in [0, 1) from the caller; 0.5 leaves the delay unscaled.
        """
        if failed_attempts < 1:
            raise ValueError("failed_attempts counts from 1")
        if self.schedule:
            if failed_attempts > len(self.schedule):
                return None
            nominal = self.schedule[failed_attempts - 1]
        else:
            exponent = min(failed_attempts - 1, MAX_DOUBLINGS)
            nominal = min(self.base * (2**exponent), self.maximum)
        return nominal * (1 - self.jitter + 2 * self.jitter * random_unit)

    def next_attempt(
        self,
        failed_attempts: int,
        now: datetime,
        random_unit: float = 0.5,
        give_up_at: datetime | None = None,
    ) -> datetime | None:
        """When to try again after `failed_attempts` failures, the last one at `now`.

        None when the retries ran out, or the next try would come at or after `give_up_at`.
        """
        delay = self.find_delay(failed_attempts, random_unit)
        if delay is None:
            return None
        moment = now + delay
        if give_up_at is not None and moment >= give_up_at:
            return None
        return moment


def schedule_of_minutes(*minutes: int) -> tuple[timedelta, ...]:
    """A retry schedule written in minutes."""
    return tuple(timedelta(minutes=m) for m in minutes)
