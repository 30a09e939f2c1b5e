"""What Reloadly's answers mean: error codes, top-up statuses and delivered amounts.

How answers map to outcomes (docs/channels.md has the same table):

- SUCCESSFUL → SUCCEEDED with deliveredAmount; PENDING, PROCESSING → PENDING (find_topup polls).
- REFUNDED → PERMANENT (the operator did not take it). FAILED → TRANSIENT: Reloadly documents
  it as an internal error, nothing debited, to be tried again later.
- The auto-detected operator differs from the order's operator ID → WRONG_OPERATOR (ported).
- CUSTOM_IDENTIFIER_ALREADY_USED → the existing top-up's state, looked up.
- TRANSIENT: our account (INSUFFICIENT_BALANCE, MAX_DAILY_TRANSACTION_*, INACTIVE_ACCOUNT,
  ACCOUNT_NOT_FOUND, 401/403 even with a fresh token), "for now" codes
  (TRANSACTION_CANNOT_BE_PROCESSED_AT_THE_MOMENT, OPERATOR_UNAVAILABLE_OR_CURRENTLY_INACTIVE,
  OPERATOR_NOT_IN_SERVICE, PHONE_RECENTLY_RECHARGED), HTTP 408, 425, 429, 5xx, and anything that
  never reached Reloadly (no connection, connect timeout, no token).
- PERMANENT: invalid phone or amount, OPERATOR_NOT_FOUND, COUNTRY_NOT_SUPPORTED,
  COULD_NOT_AUTO_DETECT_OPERATOR, TOPUP_TRANSACTION_FAILED, and any other 4xx.
- POST /topups unanswered (read timeout, dropped connection) or answered 5xx → looked up by
  reference: its state if Reloadly has it, else PENDING (unanswered) or TRANSIENT (5xx).
- A lookup that fails (no answer, no token, an error) → PENDING: ask again later.

A top-up that may have reached Reloadly is never reported TRANSIENT on a guess: the worker
would send a new attempt under a new reference, and the recipient could be paid twice.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome

_TRANSIENT_CODES = frozenset(
    {
        "INSUFFICIENT_BALANCE",
        "MAX_DAILY_TRANSACTION_AMOUNT_REACHED",
        "MAX_DAILY_TRANSACTION_COUNT_REACHED",
        "INACTIVE_ACCOUNT",
        "ACCOUNT_NOT_FOUND",
        "TOKEN_EXPIRED",
        "INVALID_TOKEN",
        "TRANSACTION_CANNOT_BE_PROCESSED_AT_THE_MOMENT",
        "OPERATOR_UNAVAILABLE_OR_CURRENTLY_INACTIVE",
        "OPERATOR_NOT_IN_SERVICE",
        "PHONE_RECENTLY_RECHARGED",
    }
)
_PERMANENT_CODES = frozenset(
    {
        "INVALID_RECIPIENT_PHONE",
        "INVALID_SENDER_PHONE",
        "INVALID_PHONE_NUMBER",
        "INVALID_AMOUNT",
        "INVALID_AMOUNT_FOR_OPERATOR",
        "OPERATOR_NOT_FOUND",
        "COUNTRY_NOT_SUPPORTED",
        "COULD_NOT_AUTO_DETECT_OPERATOR",
        "TOPUP_TRANSACTION_FAILED",
    }
)
DUPLICATE_REFERENCE_CODE = "CUSTOM_IDENTIFIER_ALREADY_USED"
_STATUS_OUTCOMES = {
    "SUCCESSFUL": AirtimeOutcome.SUCCEEDED,
    "PENDING": AirtimeOutcome.PENDING,
    "PROCESSING": AirtimeOutcome.PENDING,
    "REFUNDED": AirtimeOutcome.PERMANENT,
    "FAILED": AirtimeOutcome.TRANSIENT,
}
# ISO 4217 currencies whose minor unit is not a hundredth; every other one has two digits.
_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"


def classify_refusal(http_status: int, error_code: str) -> AirtimeOutcome:
    """TRANSIENT or PERMANENT for a call Reloadly refused, by its errorCode, else its status."""
    if error_code in _TRANSIENT_CODES:
        return AirtimeOutcome.TRANSIENT
    if error_code in _PERMANENT_CODES:
        return AirtimeOutcome.PERMANENT
    if http_status in (401, 403, 408, 425, 429) or http_status >= 500:
        return AirtimeOutcome.TRANSIENT
    return AirtimeOutcome.PERMANENT


def map_transaction_status(status: str) -> AirtimeOutcome:
    """The outcome a top-up's status stands for; an unknown status is PENDING (ask again)."""
    return _STATUS_OUTCOMES.get(status.upper(), AirtimeOutcome.PENDING)


def find_minor_digits(currency: str, order: AirtimeOrder | None = None) -> int:
    """Minor-unit digits of a currency: the order's own when it names it, else ISO 4217."""
    if order is not None and currency == order.currency:
        return order.minor_digits
    code = currency.upper()
    if len(code) != 3:
        return 2
    return 0 if code in _ZERO_DIGITS else 3 if code in _THREE_DIGITS else 2


def convert_to_minor(amount: Decimal, digits: int) -> int:
    """A decimal amount in minor units, exactly; a fraction of a minor unit is dropped."""
    # Rounding down never reports more than the recipient got.
    return int(amount.scaleb(digits).to_integral_value(rounding=ROUND_DOWN))
