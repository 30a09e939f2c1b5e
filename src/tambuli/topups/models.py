"""Pure rules of top-ups: statuses, IDs, the retry schedule and the stored record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tambuli.retries import RetryPolicy, schedule_of_minutes

TOPUP_ID_PATTERN = re.compile(r"^TOPUP(\d{8}T\d{6})-(\d{1,18})-(\d{1,18})$")
# engageSPARK's published schedule: each retry this long after the attempt before it, exactly.
TOPUP_RETRIES = RetryPolicy(jitter=0, schedule=schedule_of_minutes(1, 2, 5, 30, 60, 120))
# A pending top-up (sent, result not known yet) is looked up again after a delay that doubles
# between these bounds; it is never sent again while the provider may still carry it out.
FIRST_LOOKUP_DELAY = timedelta(seconds=5)
MAX_LOOKUP_DELAY = timedelta(minutes=5)


class TopupStatus(StrEnum):
    """Where a top-up stands."""

    QUEUED = "queued"  # waiting for its (next) attempt
    SENDING = "sending"  # an attempt is with the provider, or its outcome must be looked up
    SUCCEEDED = "succeeded"  # the airtime was sent and charged
    FAILED = "failed"  # failed for good; the reservation was released


FINAL_STATUSES = frozenset({TopupStatus.SUCCEEDED, TopupStatus.FAILED})


def format_topup_id(created_at: datetime, org_id: int, row_id: int) -> str:
    """The engageSPARK-style ID `TOPUP<UTC yyyymmddThhmmss>-<orgId>-<sequence>`."""
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"TOPUP{stamp}-{org_id}-{row_id}"


@dataclass(frozen=True)
class TopupKey:
    """The parts of a top-up ID."""

    stamp: str
    org_id: int
    row_id: int


def parse_topup_id(text: str) -> TopupKey | None:
    """The parts of a top-up ID, or None when the text cannot be one."""
    match = TOPUP_ID_PATTERN.match(text)
    if match is None:
        return None
    return TopupKey(match.group(1), int(match.group(2)), int(match.group(3)))


def find_lookup_at(waited: timedelta, now: datetime) -> datetime:
    """When to ask again about a pending top-up, `waited` after the last time it was asked."""
    return now + min(max(2 * waited, FIRST_LOOKUP_DELAY), MAX_LOOKUP_DELAY)


def make_attempt_reference(topup_id: str, attempt: int) -> str:
    """The provider reference of one attempt: unique per attempt, readable in their reports."""
    return f"{topup_id}-A{attempt}"


@dataclass(frozen=True)
class StoredTopup:
    """A top-up as stored, with its contact's names when it went to a contact."""

    row_id: int
    org_id: int
    contact_id: int | None
    recipient: str
    country: str
    operator_code: str
    operator_name: str
    provider_operator_ref: str
    currency: str
    minor_digits: int
    max_amount: str
    desired_amount: str
    amount_minor: int
    received_minor: int | None
    received_currency: str
    price_micro: int
    reservation_id: int | None
    charged_micro: int
    status: TopupStatus
    error: str
    attempts: int
    next_attempt_at: datetime | None
    pending_ref: str | None
    rerouted: bool
    provider: str
    provider_transaction_id: str
    client_ref: str
    client_dedup: str
    results_url: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    first_name: str = ""
    last_name: str = ""

    @property
    def topup_id(self) -> str:
        """The ID the API shows."""
        return format_topup_id(self.created_at, self.org_id, self.row_id)

    @property
    def done(self) -> bool:
        """True once the top-up succeeded or failed for good."""
        return self.status in FINAL_STATUSES
