"""Money rules: micro-USD integers, parsing and formatting at the edges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, Inexact, localcontext
from enum import StrEnum

from tambuli.errors import InvalidAmount
from tambuli.records import frozen_record

MICRO_PER_USD = 1_000_000
# Far above any real balance, far below int64: keeps sums safe on both databases.
MAX_AMOUNT_MICRO = 10**15
# Digits, optionally a dot and more digits: refuses signs, exponents, NaN, Infinity and the
# underscores Decimal would otherwise accept.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# Long enough for any legitimate amount; keeps Decimal from chewing on megabytes of digits.
MAX_DECIMAL_TEXT = 32
_MAX_SCALE_DIGITS = 6


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


@frozen_record(slots=True)
class NewEntry:
    """A movement of money to append to the ledger."""

    org_id: int
    kind: EntryKind
    amount_micro: int
    balance_after_micro: int
    reason: str
    reference: str
    reservation_id: int | None


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


def scale_plain_decimal(text: str, digits: int) -> Decimal:
    """Exactly text * 10**digits for a plain decimal such as "25", "0.50" or " 30 ".

    Every amount typed by a caller, through the API or the command line, is read here.
    ValueError when text is anything else (signs, exponents, NaN, underscores, too long).
    """
    stripped = text.strip()
    if len(stripped) > MAX_DECIMAL_TEXT or not _PLAIN_DECIMAL.fullmatch(stripped):
        raise ValueError(f"{text!r} is not a plain decimal")
    if not 0 <= digits <= _MAX_SCALE_DIGITS:
        raise ValueError(f"digits must be 0 to {_MAX_SCALE_DIGITS}, not {digits}")
    # The length check bounds the digits, so this precision holds every value exactly; trapping
    # Inexact turns any rounding that slipped through into an error rather than a wrong amount.
    with localcontext() as context:
        context.prec = 2 * MAX_DECIMAL_TEXT + _MAX_SCALE_DIGITS
        context.traps[Inexact] = True
        return Decimal(stripped).scaleb(digits)


def parse_usd(text: str) -> int:
    """Micro-USD from a decimal USD string such as "10", "0.25" or "3.141592"."""
    try:
        micro = scale_plain_decimal(text, 6)
    except ValueError as exc:
        raise InvalidAmount(f"{text!r} is not an amount in USD") from exc
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
