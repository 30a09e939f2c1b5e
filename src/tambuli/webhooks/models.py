"""Pure rules of pushes: statuses and the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tambuli.records import frozen_record
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


@frozen_record(slots=True)
class NewPush:
    """A push to queue: its JSON body goes to `url` as the organization's `event`."""

    org_id: int
    url: str
    event: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class PushResult:
    """What became of one attempt to deliver a claimed push."""

    push_id: int
    # The claim's lease: only a push still under it is updated.
    lease_until: datetime
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    error: str
    delivered_at: datetime | None
