"""Planning a top-up: the operator of a number, the amount to send and its price."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier as carrier_names

from tambuli.contacts.models import PhoneNumber
from tambuli.errors import InvalidField
from tambuli.topups.catalogue import Catalogue, Operator
from tambuli.topups.selection import parse_amount, select_amount

# The finest currency a catalogue may use; amounts are checked at this precision before the
# operator (and so its currency's digits) is known, so garbage is refused first.
_FINEST_MINOR_DIGITS = 6
MAX_AMOUNT_TEXT = 40


@dataclass(frozen=True)
class TopupPlan:
    """What would be sent to a number, and what it costs."""

    operator: Operator
    amount_minor: int
    price_micro: int
    received_minor: int
    received_currency: str
    # The amounts as requested, kept to choose again should the number turn out ported.
    max_amount: str
    desired_amount: str


@dataclass(frozen=True)
class TopupDraft:
    """A planned top-up for a number, as a request asked for it, not stored yet."""

    org_id: int
    contact_id: int | None
    recipient: str
    plan: TopupPlan
    client_ref: str
    client_dedup: str
    results_url: str
    # A synchronous request claims its top-up and begins the first attempt in the same
    # commit, so no worker takes it while the request is still waiting on it.
    claim: bool


def check_amount_shape(field: str, raw: object) -> str:
    """The requested amount as text, once it is a positive decimal (InvalidField otherwise)."""
    parse_amount(field, raw, _FINEST_MINOR_DIGITS)
    text = str(raw).strip()
    if len(text) > MAX_AMOUNT_TEXT:
        raise InvalidField(f'"{field}" is too long', {"field": field})
    return text


def find_carrier_name(digits: str) -> str:
    """The carrier phonenumbers names for an E.164 number (its original range holder)."""
    try:
        number = phonenumbers.parse(f"+{digits}")
    except phonenumbers.NumberParseException:
        return ""
    return str(carrier_names.name_for_number(number, "en") or "")


def plan_for_operator(
    catalogue: Catalogue, operator: Operator, max_amount: str, desired_amount: str
) -> TopupPlan:
    """Choose the amount on sale from this operator and price it."""
    digits = operator.minor_digits
    max_minor = parse_amount("maxAmount", max_amount, digits)
    desired_minor = (
        parse_amount("desiredAmount", desired_amount, digits) if desired_amount else None
    )
    amount = select_amount(operator.denominations(), max_minor, desired_minor)
    return TopupPlan(
        operator=operator,
        amount_minor=amount,
        price_micro=operator.price_for(amount),
        received_minor=operator.received_for(amount),
        received_currency=_local_currency(catalogue, operator),
        max_amount=max_amount,
        desired_amount=desired_amount,
    )


def plan_topup(
    catalogue: Catalogue,
    number: PhoneNumber,
    max_amount: str,
    desired_amount: str,
) -> TopupPlan:
    """The plan for a number: its operator from the catalogue, then the amount and price."""
    operator = catalogue.detect_operator(number.digits, number.region, number.carrier)
    return plan_for_operator(catalogue, operator, max_amount, desired_amount)


def _local_currency(catalogue: Catalogue, operator: Operator) -> str:
    country = catalogue.find_country(operator.country)
    return operator.currency if country is None else country.local_currency
