"""Pure rules of pushes: statuses and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where a push stands."""

    PENDING = "pending"  # not yet answered with a 2xx; will be tried (again)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # gave up: refused address, or no 2xx before give_up_at


@dataclass(frozen=True)
class PushRetryPolicy:
    """Exponential backoff with jitter for pushes, until the push's give-up time."""

    base: timedelta = timedelta(seconds=10)
    maximum: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    give_up_after: timedelta = timedelta(hours=24)

    def next_attempt(
        self, failed_attempts: int, now: datetime, give_up_at: datetime, random_unit: float
    ) -> datetime | None:
        """When to try again after `failed_attempts` failures; None once it is time to give up."""
        exponent = min(max(failed_attempts - 1, 0), 30)
        delay = min(self.base * (2**exponent), self.maximum)
        factor = 1 - self.jitter + 2 * self.jitter * random_unit
        moment = now + delay * factor
        return None if moment >= give_up_at else moment


@dataclass(frozen=True)
class PushRecord:
    """A push as a page shows it."""

    event: str
    url: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
