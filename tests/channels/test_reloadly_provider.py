"""The Reloadly adapter over real HTTP against the stand-in on 127.0.0.1.

The property that matters most: whatever goes wrong, nobody is paid twice. Each test reads the
stand-in's count of payments per number to show it.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta

import pytest

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeOutcome
from tambuli.channels.airtime.reloadly import ReloadlyProvider
from tambuli.clock import FakeClock
from tambuli.outbound_http import OutboundHttp
from tests.support.reloadly_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    NumberBehaviour,
    ReloadlyStandin,
    StandinOperator,
    running_reloadly_standin,
)

GLOBE = StandinOperator(
    operator_id=100, name="Globe Philippines", country="PH", destination_currency="PHP"
)
SMART = StandinOperator(
    operator_id=200, name="Smart Philippines", country="PH", destination_currency="PHP"
)
NUMBER = "639171234567"
# Globe's range in our catalogue, but the subscriber moved to Smart.
PORTED = "639181230008"
# Reloadly cannot auto-detect this one; the catalogue still knows its operator.
UNDETECTABLE = "639991234567"


def make_order(
    recipient: str = NUMBER,
    *,
    operator_ref: str = "100",
    amount_minor: int = 5000,
    currency: str = "PHP",
    reference: str | None = None,
) -> AirtimeOrder:
    """An order for 50.00 PHP to Globe unless told otherwise."""
    return AirtimeOrder(
        reference=reference or f"ref-{uuid.uuid4().hex}",
        recipient=recipient,
        country="PH",
        operator_code="PH-GLOBE",
        provider_operator_ref=operator_ref,
        amount_minor=amount_minor,
        currency=currency,
        minor_digits=2,
        attempt=1,
    )


@pytest.fixture
def standin() -> Iterator[ReloadlyStandin]:
    """A fresh stand-in selling Globe and Smart airtime."""
    with running_reloadly_standin() as running:
        running.add_operator(GLOBE, NUMBER, PORTED)
        running.add_operator(SMART)
        running.port_number(PORTED, SMART.operator_id)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """An HTTP client that ignores proxy settings: tests talk to 127.0.0.1 only."""
    async with OutboundHttp() as client:
        yield client


async def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll until condition holds; the deadline only catches a hang."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def make_provider(
    standin: ReloadlyStandin,
    http: OutboundHttp,
    *,
    timeout: float = 5.0,
    clock: FakeClock | None = None,
    client_secret: str = CLIENT_SECRET,
) -> ReloadlyProvider:
    """An adapter pointed at the stand-in for both tokens and the API."""
    return ReloadlyProvider(
        client_id=CLIENT_ID,
        client_secret=client_secret,
        auth_url=standin.url,
        api_url=standin.url,
        timeout=timeout,
        client=http,
        clock=clock or FakeClock(),
    )


async def test_a_top_up_fetches_a_token_once_and_reuses_it(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    provider = make_provider(standin, http)
    first = await provider.send_topup(make_order())
    second = await provider.send_topup(make_order())
    assert (first.outcome, second.outcome) == (AirtimeOutcome.SUCCEEDED,) * 2
    assert standin.token_requests == 1
    assert standin.payments_to(NUMBER) == 2


async def test_wrong_credentials_are_transient_and_pay_nothing(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    provider = make_provider(standin, http, client_secret="not-the-secret")
    result = await provider.send_topup(make_order())
    assert result.outcome == AirtimeOutcome.TRANSIENT
    assert "not-the-secret" not in result.error
    assert standin.payments_to(NUMBER) == 0


async def test_a_token_is_renewed_shortly_before_it_expires(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    clock = FakeClock()
    provider = make_provider(standin, http, clock=clock)
    await provider.send_topup(make_order())
    clock.advance(timedelta(seconds=3600 - 61))
    await provider.send_topup(make_order())
    assert standin.token_requests == 1
    clock.advance(timedelta(seconds=2))
    assert (await provider.send_topup(make_order())).outcome == AirtimeOutcome.SUCCEEDED
    assert standin.token_requests == 2


async def test_a_token_that_expired_early_is_replaced_after_a_401(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.token_lifetime = 1
    # The adapter's clock stands still, so only the stand-in's 401 can tell it the token expired.
    provider = make_provider(standin, http, clock=FakeClock())
    await provider.send_topup(make_order())
    await asyncio.sleep(1.1)
    result = await provider.send_topup(make_order())
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    assert standin.token_requests == 2
    assert standin.payments_to(NUMBER) == 2


async def test_a_revoked_token_is_replaced_once_and_the_top_up_sent_once(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    provider = make_provider(standin, http)
    await provider.send_topup(make_order())
    standin.revoke_tokens()
    assert (await provider.send_topup(make_order())).outcome == AirtimeOutcome.SUCCEEDED
    assert standin.token_requests == 2
    assert standin.payments_to(NUMBER) == 2


async def test_a_dollar_top_up_reports_the_pesos_delivered_in_centavos(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    order = make_order(amount_minor=100, currency="USD")
    result = await make_provider(standin, http).send_topup(order)
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    # 1.00 USD at 56.25 PHP per USD.
    assert (result.received_minor, result.received_currency) == (5625, "PHP")
    assert result.transaction_id
    sent = standin.transactions[-1]
    assert (sent["customIdentifier"], sent["requestedAmountCurrencyCode"]) == (
        order.reference,
        "USD",
    )


async def test_a_peso_top_up_is_sent_as_a_local_amount(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).send_topup(make_order(amount_minor=5050))
    assert (result.received_minor, result.received_currency) == (5050, "PHP")
    assert standin.transactions[-1]["requestedAmountCurrencyCode"] == "PHP"


async def test_a_processing_top_up_is_pending_until_a_status_poll_says_successful(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(pending_polls=1))
    provider = make_provider(standin, http)
    order = make_order()
    sent = await provider.send_topup(order)
    assert sent.outcome == AirtimeOutcome.PENDING
    found = await provider.find_topup(order.reference)
    assert found.outcome == AirtimeOutcome.SUCCEEDED
    assert (found.transaction_id, found.received_minor) == (sent.transaction_id, 5000)
    assert standin.count_requests("GET", f"/topups/{sent.transaction_id}/status") == 1


async def test_a_lookup_after_a_restart_finds_the_top_up_by_its_reference(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(pending_polls=1))
    order = make_order()
    sent = await make_provider(standin, http).send_topup(order)
    restarted = make_provider(standin, http)
    found = await restarted.find_topup(order.reference)
    assert (found.outcome, found.transaction_id) == (AirtimeOutcome.SUCCEEDED, sent.transaction_id)
    assert found.received_minor == 5000
    assert standin.count_requests("GET", "/topups/reports/transactions") == 1


async def test_a_ported_number_is_refused_with_the_operator_it_belongs_to(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).send_topup(make_order(PORTED))
    assert result.outcome == AirtimeOutcome.WRONG_OPERATOR
    assert result.operator_hint == "200"
    assert standin.payments_to(PORTED) == 0


async def test_a_ported_number_is_topped_up_once_the_order_names_its_operator(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).send_topup(make_order(PORTED, operator_ref="200"))
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    assert standin.transactions[-1]["operatorId"] == 200


async def test_an_order_without_an_operator_id_tops_up_the_detected_operator(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).send_topup(make_order(PORTED, operator_ref=""))
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    assert standin.transactions[-1]["operatorId"] == 200


async def test_an_undetectable_number_is_topped_up_at_the_catalogue_operator(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    provider = make_provider(standin, http)
    assert (await provider.send_topup(make_order(UNDETECTABLE))).outcome == (
        AirtimeOutcome.SUCCEEDED
    )
    refused = await provider.send_topup(make_order(UNDETECTABLE, operator_ref=""))
    assert refused.outcome == AirtimeOutcome.PERMANENT
    assert standin.payments_to(UNDETECTABLE) == 1


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("INVALID_RECIPIENT_PHONE", AirtimeOutcome.PERMANENT),
        ("INVALID_AMOUNT_FOR_OPERATOR", AirtimeOutcome.PERMANENT),
        ("COUNTRY_NOT_SUPPORTED", AirtimeOutcome.PERMANENT),
        ("TRANSACTION_CANNOT_BE_PROCESSED_AT_THE_MOMENT", AirtimeOutcome.TRANSIENT),
    ],
)
async def test_refusals_map_to_permanent_or_transient(
    standin: ReloadlyStandin, http: OutboundHttp, code: str, outcome: AirtimeOutcome
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(refuse_code=code))
    result = await make_provider(standin, http).send_topup(make_order())
    assert result.outcome == outcome
    assert code in result.error
    assert standin.payments_to(NUMBER) == 0


async def test_a_refunded_top_up_is_permanent(standin: ReloadlyStandin, http: OutboundHttp) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(refund=True))
    result = await make_provider(standin, http).send_topup(make_order())
    assert result.outcome == AirtimeOutcome.PERMANENT
    assert "REFUNDED" in result.error


async def test_our_empty_provider_account_is_transient(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.balance = standin.balance * 0
    result = await make_provider(standin, http).send_topup(make_order())
    assert result.outcome == AirtimeOutcome.TRANSIENT
    assert "INSUFFICIENT_BALANCE" in result.error


async def test_a_currency_the_operator_does_not_sell_is_permanent(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).send_topup(make_order(currency="EUR"))
    assert result.outcome == AirtimeOutcome.PERMANENT
    assert standin.count_requests("POST", "/topups") == 0


async def test_a_server_error_is_transient_and_the_next_attempt_pays_once(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(server_errors=1))
    provider = make_provider(standin, http)
    assert (await provider.send_topup(make_order())).outcome == AirtimeOutcome.TRANSIENT
    assert (await provider.send_topup(make_order())).outcome == AirtimeOutcome.SUCCEEDED
    assert standin.payments_to(NUMBER) == 1


async def test_a_slow_operator_detection_times_out_as_transient_before_anything_is_sent(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(hold_detection=True))
    result = await make_provider(standin, http, timeout=2.0).send_topup(make_order())
    assert result.outcome == AirtimeOutcome.TRANSIENT
    assert "Timeout" in result.error
    assert standin.count_requests("POST", "/topups") == 0


async def test_an_unanswered_top_up_is_looked_up_and_never_paid_twice(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(hold_topup=True))
    order = make_order()
    result = await make_provider(standin, http, timeout=2.0).send_topup(order)
    assert result.outcome == AirtimeOutcome.SUCCEEDED
    assert standin.payments_to(NUMBER) == 1


async def test_an_unanswered_top_up_not_yet_recorded_is_pending_then_found(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    standin.set_behaviour(NUMBER, NumberBehaviour(hold_topup=True, record_late=True))
    provider = make_provider(standin, http, timeout=2.0)
    order = make_order()
    assert (await provider.send_topup(order)).outcome == AirtimeOutcome.PENDING
    standin.released.set()  # the aggregator records the top-up only now
    await wait_for(lambda: standin.payments_to(NUMBER) == 1)
    assert (await provider.find_topup(order.reference)).outcome == AirtimeOutcome.SUCCEEDED
    assert standin.payments_to(NUMBER) == 1


async def test_a_repeated_reference_pays_once_and_answers_the_existing_state(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    order = make_order()
    first = await make_provider(standin, http).send_topup(order)
    again = await make_provider(standin, http).send_topup(order)
    assert again.outcome == AirtimeOutcome.SUCCEEDED
    assert (again.transaction_id, again.received_minor) == (first.transaction_id, 5000)
    assert standin.payments_to(NUMBER) == 1


async def test_a_reference_never_sent_is_not_found(
    standin: ReloadlyStandin, http: OutboundHttp
) -> None:
    result = await make_provider(standin, http).find_topup("never-sent")
    assert result.outcome == AirtimeOutcome.NOT_FOUND


def closed_port_url() -> str:
    """A 127.0.0.1 URL nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_an_unreachable_provider_is_transient_for_top_ups_and_pending_for_lookups(
    http: OutboundHttp,
) -> None:
    url = closed_port_url()
    provider = ReloadlyProvider(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        auth_url=url,
        api_url=url,
        timeout=1.0,
        client=http,
    )
    sent = await provider.send_topup(make_order())
    assert sent.outcome == AirtimeOutcome.TRANSIENT
    assert CLIENT_SECRET not in sent.error
    assert (await provider.find_topup("any")).outcome == AirtimeOutcome.PENDING
