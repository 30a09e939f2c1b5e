"""How a top-up is shown: the engageSPARK record (lists, pushes) and the legacy result."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from tambuli.billing.models import usd_number
from tambuli.clock import format_utc_timestamp
from tambuli.topups.models import StoredTopup, TopupStatus
from tambuli.topups.selection import format_amount


def amount_number(minor: int, minor_digits: int) -> float:
    """An amount for a JSON number, from its exact text (the conversion happens once, here)."""
    return float(Decimal(format_amount(minor, minor_digits)))


class TopupRecordBody(msgspec.Struct, rename="camel", omit_defaults=False):
    """schema_topup, plus the number, operator, times and attempts."""

    id: str
    done: bool
    success: bool
    error: str
    client_ref: str
    topup_currency: str
    topup_received: float
    price_charged: float
    first_name: str
    last_name: str
    full_phone_number: str
    country: str
    operator: str
    operator_name: str
    price: float
    local_amount: float | None
    local_currency: str
    attempts: int
    created_at: str
    finished_at: str | None
    client_dedup: str
    contact_id: int | None


def render_topup_record(topup: StoredTopup) -> TopupRecordBody:
    """The record of a top-up as lists, gets and pushes show it."""
    local = topup.received_minor
    local_currency = topup.received_currency or topup.currency
    local_digits = topup.minor_digits if local_currency == topup.currency else 2
    return TopupRecordBody(
        id=topup.topup_id,
        done=topup.done,
        success=topup.status is TopupStatus.SUCCEEDED,
        error=topup.error,
        client_ref=topup.client_ref,
        topup_currency=topup.currency,
        topup_received=amount_number(topup.amount_minor, topup.minor_digits),
        price_charged=usd_number(topup.charged_micro),
        first_name=topup.first_name,
        last_name=topup.last_name,
        full_phone_number=topup.recipient,
        country=topup.country,
        operator=topup.operator_code,
        operator_name=topup.operator_name,
        price=usd_number(topup.price_micro),
        local_amount=None if local is None else amount_number(local, local_digits),
        local_currency=local_currency,
        attempts=topup.attempts,
        created_at=format_utc_timestamp(topup.created_at),
        finished_at=None if topup.finished_at is None else format_utc_timestamp(topup.finished_at),
        client_dedup=topup.client_dedup,
        contact_id=topup.contact_id,
    )


def describe_legacy_status(topup: StoredTopup) -> str:
    """The legacy API's status word: Success, Failed, or Queued while it is still retried."""
    if topup.status is TopupStatus.SUCCEEDED:
        return "Success"
    if topup.status is TopupStatus.FAILED:
        return "Failed"
    return "Queued"


def render_legacy_result(topup: StoredTopup) -> dict[str, Any]:
    """The legacy /v1/airtime-topup answer (and its resultsUrl push) for a stored top-up."""
    return {
        "status": describe_legacy_status(topup),
        "errorMessage": topup.error,
        "id": topup.topup_id,
        "phoneNumber": topup.recipient,
        "operator": topup.operator_name,
        "currency": topup.currency,
        "amountSent": amount_number(topup.amount_minor, topup.minor_digits),
        "price": usd_number(topup.price_micro),
        "clientRef": topup.client_ref,
    }
