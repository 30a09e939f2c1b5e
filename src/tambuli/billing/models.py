"""Money rules: micro-USD integers, parsing and formatting at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from tambuli.errors import InvalidAmount
from tambuli.records import frozen_record

MICRO_PER_USD = 1_000_000
# Far above any real balance, far below int64: keeps sums safe on both databases.
MAX_AMOUNT_MICRO = 10**15


class EntryKind(StrEnum):
    """What a ledger entry records."""

    CREDIT = "credit"  # money added to the balance (top-up, demo funds, auto-recharge)
    RESERVE = "reserve"  # money set aside for a pending send; leaves the spendable balance
    SETTLE = "settle"  # a reservation ended: the part not charged comes back
    RELEASE = "release"  # a reservation ended without any charge: all of it comes back
    REFUND = "refund"  # money charged earlier is given back


class ReservationStatus(StrEnum):
    """Where a reservation stands."""

    HELD = "held"  # set aside; waiting for settle or release
    SETTLED = "settled"  # ended with a charge (possibly partial)
    RELEASED = "released"  # ended with no charge


@dataclass(frozen=True)
class Balance:
    """An organization's spendable balance and auto-recharge settings."""

    balance_micro: int
    auto_recharge: bool
    auto_recharge_threshold_micro: int
    auto_recharge_amount_micro: int


@dataclass(frozen=True)
class LedgerEntry:
    """One movement of money."""

    id: int
    kind: EntryKind
    amount_micro: int
    balance_after_micro: int
    reason: str
    reference: str
    reservation_id: int | None
    created_at: datetime


@frozen_record
class Reservation:
    """Money set aside for one piece of work (a message, a top-up)."""

    id: int
    org_id: int
    amount_micro: int
    charged_micro: int
    refunded_micro: int
    status: ReservationStatus
    reason: str
    reference: str


def parse_usd(text: str) -> int:
    """Micro-USD from a decimal USD string such as "10", "0.25" or "3.141592"."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise InvalidAmount(f"{text!r} is not an amount in USD") from exc
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not an amount in USD")
    micro = value.scaleb(6)
    if micro != micro.to_integral_value():
        raise InvalidAmount("Amounts have at most 6 digits after the dot (micro-USD)")
    result = int(micro)
    check_amount(result, allow_zero=True)
    return result


def check_amount(amount_micro: int, *, allow_zero: bool = False) -> None:
    """Refuse negative, zero (unless allowed) and absurdly large amounts."""
    if amount_micro < 0 or (amount_micro == 0 and not allow_zero):
        raise InvalidAmount("The amount must be greater than zero")
    if amount_micro > MAX_AMOUNT_MICRO:
        raise InvalidAmount("The amount is too large")


def format_usd(amount_micro: int) -> str:
    """Exact decimal USD with 6 digits after the dot, e.g. "3.141592"."""
    sign = "-" if amount_micro < 0 else ""
    whole, frac = divmod(abs(amount_micro), MICRO_PER_USD)
    return f"{sign}{whole}.{frac:06d}"


def format_usd_cents_down(amount_micro: int) -> str:
    """USD rounded down to whole cents, always two digits after the dot ("3.14")."""
    cents = amount_micro // 10_000  # floor division: rounds down, also for negatives
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def usd_number(amount_micro: int) -> float:
    """The JSON number the API shows for an amount (conversion at the edge, no arithmetic)."""
    return float(Decimal(amount_micro).scaleb(-6))


def format_usd_exact_or_cents(amount_micro: int) -> str:
    """Two decimals for whole cents ("0.40"), six when the amount has fractions of a cent."""
    if amount_micro % 10_000 == 0:
        return format_usd_cents_down(amount_micro)
    return format_usd(amount_micro)
