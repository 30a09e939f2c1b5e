"""Pure rules of pushes: statuses and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tambuli.retries import RetryPolicy


class DeliveryStatus(StrEnum):
    """Where a push stands."""

    PENDING = "pending"  # not yet answered with a 2xx; will be tried (again)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # gave up: refused address, or no 2xx before give_up_at


# Pushes are tried again with a delay doubling from 10 s to an hour, for a day.
PUSH_RETRIES = RetryPolicy(base=timedelta(seconds=10), maximum=timedelta(hours=1))
PUSH_GIVE_UP_AFTER = timedelta(hours=24)


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
