"""What Reloadly's answers mean: error codes, statuses, amounts, and the top-up request body."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome
from tambuli.channels.airtime.reloadly import build_topup_body
from tambuli.channels.airtime.reloadly_answers import (
    classify_refusal,
    convert_to_minor,
    find_minor_digits,
    map_transaction_status,
)

TRANSIENT, PERMANENT = AirtimeOutcome.TRANSIENT, AirtimeOutcome.PERMANENT


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        # Our own account: the recipient is not at fault and nothing was sent.
        (400, "INSUFFICIENT_BALANCE", TRANSIENT),
        (400, "MAX_DAILY_TRANSACTION_COUNT_REACHED", TRANSIENT),
        (400, "MAX_DAILY_TRANSACTION_AMOUNT_REACHED", TRANSIENT),
        (403, "INACTIVE_ACCOUNT", TRANSIENT),
        (401, "TOKEN_EXPIRED", TRANSIENT),
        (401, "", TRANSIENT),
        (403, "", TRANSIENT),
        # For now.
        (400, "TRANSACTION_CANNOT_BE_PROCESSED_AT_THE_MOMENT", TRANSIENT),
        (400, "OPERATOR_UNAVAILABLE_OR_CURRENTLY_INACTIVE", TRANSIENT),
        (400, "PHONE_RECENTLY_RECHARGED", TRANSIENT),
        (429, "", TRANSIENT),
        (408, "", TRANSIENT),
        (500, "", TRANSIENT),
        (503, "SOMETHING_NEW", TRANSIENT),
        # For good.
        (400, "INVALID_RECIPIENT_PHONE", PERMANENT),
        (400, "INVALID_PHONE_NUMBER", PERMANENT),
        (400, "INVALID_AMOUNT", PERMANENT),
        (400, "INVALID_AMOUNT_FOR_OPERATOR", PERMANENT),
        (404, "OPERATOR_NOT_FOUND", PERMANENT),
        (400, "COUNTRY_NOT_SUPPORTED", PERMANENT),
        (404, "COULD_NOT_AUTO_DETECT_OPERATOR", PERMANENT),
        (500, "TOPUP_TRANSACTION_FAILED", PERMANENT),
        (400, "SOMETHING_NEW", PERMANENT),
        (422, "", PERMANENT),
    ],
)
def test_refusals_are_transient_for_our_account_and_for_now_and_permanent_otherwise(
    status: int, code: str, outcome: AirtimeOutcome
) -> None:
    assert classify_refusal(status, code) == outcome


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("SUCCESSFUL", AirtimeOutcome.SUCCEEDED),
        ("PENDING", AirtimeOutcome.PENDING),
        ("PROCESSING", AirtimeOutcome.PENDING),
        ("REFUNDED", AirtimeOutcome.PERMANENT),
        # Reloadly: an internal error, nothing debited, try again later.
        ("FAILED", AirtimeOutcome.TRANSIENT),
        ("successful", AirtimeOutcome.SUCCEEDED),
        # Unknown is never taken for "not sent": look again later.
        ("SOMETHING_NEW", AirtimeOutcome.PENDING),
        ("", AirtimeOutcome.PENDING),
    ],
)
def test_transaction_statuses_map_to_outcomes(status: str, outcome: AirtimeOutcome) -> None:
    assert map_transaction_status(status) == outcome


@pytest.mark.parametrize(
    ("amount", "digits", "minor"),
    [
        ("56.25", 2, 5625),
        ("3850", 2, 385000),
        ("0.1", 2, 10),
        ("12345678901234.56", 2, 1234567890123456),
        ("50000", 0, 50000),
        ("1.234", 3, 1234),
        # A fraction of a centavo is not reported as received.
        ("10.999", 2, 1099),
    ],
)
def test_delivered_amounts_convert_to_minor_units_exactly(
    amount: str, digits: int, minor: int
) -> None:
    assert convert_to_minor(Decimal(amount), digits) == minor


def make_order(currency: str = "PHP", amount_minor: int = 5050, digits: int = 2) -> AirtimeOrder:
    """An order to a Philippine number."""
    return AirtimeOrder(
        reference="ref-1",
        recipient="639171234567",
        country="PH",
        operator_code="PH-GLOBE",
        provider_operator_ref="100",
        amount_minor=amount_minor,
        currency=currency,
        minor_digits=digits,
        attempt=1,
    )


def test_minor_digits_come_from_the_order_then_iso_4217() -> None:
    order = make_order(currency="XYZ", digits=4)
    assert find_minor_digits("XYZ", order) == 4
    assert find_minor_digits("PHP", order) == 2
    assert find_minor_digits("VND") == 0
    assert find_minor_digits("KWD") == 3


OPERATOR: dict[str, Any] = {
    "operatorId": 100,
    "senderCurrencyCode": "USD",
    "destinationCurrencyCode": "PHP",
    "supportsLocalAmounts": True,
}


def test_a_body_in_the_operator_currency_asks_for_a_local_amount() -> None:
    body = build_topup_body(make_order(), OPERATOR)
    assert body == {
        "operatorId": 100,
        "amount": 50.5,
        "useLocalAmount": True,
        "customIdentifier": "ref-1",
        "recipientPhone": {"countryCode": "PH", "number": "639171234567"},
    }


def test_a_body_in_the_account_currency_asks_for_no_local_amount() -> None:
    body = build_topup_body(make_order(currency="USD", amount_minor=199), OPERATOR)
    assert (body["amount"], body["useLocalAmount"]) == (1.99, False)


def test_a_zero_digit_currency_is_sent_as_a_whole_number() -> None:
    operator = {**OPERATOR, "destinationCurrencyCode": "VND"}
    body = build_topup_body(make_order(currency="VND", amount_minor=20000, digits=0), operator)
    assert body["amount"] == 20000
    assert isinstance(body["amount"], int)
