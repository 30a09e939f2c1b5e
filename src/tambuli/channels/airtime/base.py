"""What every airtime top-up provider is: the protocol the top-up worker speaks, and its shapes.

A provider sends prepaid airtime to a number and says how it went. Every order carries a
reference that is unique per attempt; the provider remembers it, so after a crash the worker
asks `find_topup` what became of an attempt before it sends anything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AirtimeOutcome(StrEnum):
    """What a provider answered to a top-up, or to a lookup of one."""

    SUCCEEDED = "succeeded"  # the airtime was sent
    PENDING = "pending"  # accepted, result not known yet: look it up later
    TRANSIENT = "transient"  # not sent, for now (timeout, provider down): try again later
    PERMANENT = "permanent"  # not sent, for good (operator refused, invalid number)
    WRONG_OPERATOR = "wrong_operator"  # not sent: the number belongs to `operator_hint`
    NOT_FOUND = "not_found"  # lookups only: the provider never received this reference


@dataclass(frozen=True)
class AirtimeOrder:
    """One attempt at a top-up."""

    # Unique per attempt; the provider's idempotency key and the handle for lookups.
    reference: str
    # E.164 digits without "+", and the number's two-letter country.
    recipient: str
    country: str
    # Our operator code and the operator's ID at the provider ("" when it has none).
    operator_code: str
    provider_operator_ref: str
    # The amount to send, in minor units of `currency`.
    amount_minor: int
    currency: str
    minor_digits: int
    # 1 for the first attempt of a top-up, 2 for its first retry, …
    attempt: int


@dataclass(frozen=True)
class AirtimeResult:
    """A provider's answer."""

    outcome: AirtimeOutcome
    # The provider's own ID of the transaction, when it gave one.
    transaction_id: str = ""
    # What the recipient received, in minor units of `received_currency`, when known.
    received_minor: int | None = None
    received_currency: str = ""
    # For failures: a short human text ("operator refused the number").
    error: str = ""
    # WRONG_OPERATOR only: the operator the provider says the number belongs to, as the
    # provider names it (its operator ID, matched to our catalogue's provider_ref, or our code).
    operator_hint: str = ""


class AirtimeProvider(Protocol):
    """A way to send airtime."""

    name: str

    async def send_topup(self, order: AirtimeOrder) -> AirtimeResult:
        """Send one top-up; never raises for provider trouble (that is TRANSIENT)."""
        ...

    async def find_topup(self, reference: str) -> AirtimeResult:
        """What became of an earlier order; NOT_FOUND if the provider never got it."""
        ...
