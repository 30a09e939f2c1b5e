"""Top-ups end to end in the service layer: plan, reserve, send, retry, reroute, charge."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from tambuli.billing import service as billing
from tambuli.channels.airtime.base import AirtimeOutcome, AirtimeResult
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.errors import (
    DuplicateTopup,
    InsufficientFunds,
    InvalidField,
    NoTopupOperator,
    UnknownContact,
)
from tambuli.organizations.profile import update_profile
from tambuli.topups import listing, store
from tambuli.topups.attempts import _begin_attempts_within, _order
from tambuli.topups.models import TopupStatus
from tambuli.topups.service import TopupRequest, request_topup
from tambuli.topups.store import TopupFilter
from tambuli.webhooks import service as webhooks
from tests.services.topup_world import GLOBE, SMART, ScriptedProvider, TopupWorld, number_ending


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> TopupWorld:
    return TopupWorld(fresh_db, clock)


async def test_a_synchronous_topup_sends_the_largest_amount_and_charges_its_price(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    answer = await world.top_up(org, SMART, 25)
    topup = answer.topup
    assert topup is not None and answer.finished
    assert topup.status is TopupStatus.SUCCEEDED
    assert (topup.operator_code, topup.amount_minor) == ("ph-smart", 2000)
    assert topup.charged_micro == topup.price_micro == answer.plan.price_micro > 0
    assert await world.balance(org) == 10_000_000 - topup.price_micro
    assert await world.simulator_sends(SMART) == 1


@pytest.mark.parametrize(
    ("number", "max_amount", "desired", "sent"),
    [
        (GLOBE, 25, None, 2500),
        (SMART, 25, None, 2000),
        (SMART, 30, 20, 2000),
        (GLOBE, 30, 20, 2500),
    ],
)
async def test_the_references_four_examples_hold(
    world: TopupWorld, number: str, max_amount: int, desired: int | None, sent: int
) -> None:
    org = await world.new_org()
    answer = await world.top_up(org, number, max_amount, desired, test=True)
    assert answer.plan.amount_minor == sent


async def test_a_test_request_stores_and_charges_nothing(world: TopupWorld) -> None:
    org = await world.new_org(balance_micro=1)
    answer = await world.top_up(org, GLOBE, "25", test=True)
    assert answer.topup is None and answer.plan.amount_minor == 2500
    assert await world.balance(org) == 1
    assert (await listing.list_topups_page(world.db, org, TopupFilter(), 1, 10)) == []


async def test_an_amount_below_every_denomination_lists_what_is_on_sale(world: TopupWorld) -> None:
    org = await world.new_org()
    with pytest.raises(InvalidField) as caught:
        await world.top_up(org, GLOBE, 5)
    assert "10.00" in caught.value.message and "25.00" in caught.value.message
    assert await world.balance(org) == 10_000_000


@pytest.mark.parametrize("bad", ["abc", "-5", -5, 0, True, "1e3", "", None, 2.5, [25]])
async def test_garbage_amounts_are_refused_before_anything_is_stored(
    world: TopupWorld, bad: object
) -> None:
    org = await world.new_org()
    with pytest.raises(InvalidField):
        await world.top_up(org, GLOBE, bad)
    assert await world.balance(org) == 10_000_000


async def test_a_number_no_operator_serves_is_refused(world: TopupWorld) -> None:
    org = await world.new_org()
    with pytest.raises(NoTopupOperator):
        await world.top_up(org, "12025550123", 10)


async def test_without_the_money_nothing_is_stored(world: TopupWorld) -> None:
    org = await world.new_org(balance_micro=1000)
    with pytest.raises(InsufficientFunds):
        await world.top_up(org, GLOBE, 1000)
    assert await world.balance(org) == 1000
    assert (await listing.list_topups_page(world.db, org, TopupFilter(), 1, 10)) == []
    assert await world.simulator_sends(GLOBE) == 0


async def test_an_operator_refusal_fails_at_once_and_releases_the_reservation(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    refused = number_ending(GLOBE, "0001")
    answer = await world.top_up(org, refused, 25)
    assert answer.topup is not None and answer.finished
    assert answer.topup.status is TopupStatus.FAILED and answer.topup.error
    assert answer.topup.charged_micro == 0
    assert await world.balance(org) == 10_000_000


async def test_transient_failures_are_retried_on_the_published_schedule(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    flaky = number_ending(GLOBE, "0002")
    answer = await world.top_up(org, flaky, 25)
    topup = answer.topup
    assert topup is not None and not answer.finished
    stored = await world.get(topup)
    assert stored.status is TopupStatus.QUEUED and stored.attempts == 1
    assert stored.next_attempt_at == world.clock.now() + timedelta(minutes=1)
    # Not due yet: nothing happens.
    assert await world.run_worker() == 0
    world.advance(1)
    assert await world.run_worker() == 1
    stored = await world.get(topup)
    assert stored.status is TopupStatus.QUEUED and stored.attempts == 2
    world.advance(1.9)
    assert await world.run_worker() == 0
    world.advance(0.1)
    assert await world.run_worker() == 1
    stored = await world.get(topup)
    assert stored.status is TopupStatus.SUCCEEDED and stored.attempts == 3
    assert stored.charged_micro == stored.price_micro
    assert await world.balance(org) == 10_000_000 - stored.price_micro
    assert await world.simulator_sends(flaky) == 1


async def test_retries_stop_after_the_sixth_and_the_money_comes_back(
    fresh_db: Database, clock: FakeClock
) -> None:
    transient = AirtimeResult(AirtimeOutcome.TRANSIENT, error="provider down")
    provider = ScriptedProvider([transient] * 7)
    world = TopupWorld(fresh_db, clock, provider=provider)
    org = await world.new_org()
    answer = await world.top_up(org, GLOBE, 25)
    assert answer.topup is not None
    gaps = []
    for delay in (1, 2, 5, 30, 60, 120):
        stored = await world.get(answer.topup)
        assert stored.next_attempt_at is not None
        gaps.append((stored.next_attempt_at - clock.now()).total_seconds() / 60)
        world.advance(delay)
        assert await world.run_worker() == 1
    assert gaps == [1, 2, 5, 30, 60, 120]
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.FAILED and stored.attempts == 7
    assert stored.error == "provider down"
    assert len(provider.sent) == 7
    assert len({order.reference for order in provider.sent}) == 7
    assert await world.balance(org) == 10_000_000


async def test_an_async_request_is_queued_and_the_worker_sends_it(world: TopupWorld) -> None:
    org = await world.new_org()
    answer = await world.top_up(org, GLOBE, 50, run_async=True)
    assert answer.topup is not None and not answer.finished
    assert answer.topup.status is TopupStatus.QUEUED
    assert await world.simulator_sends(GLOBE) == 0
    assert await world.run_worker() == 1
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SUCCEEDED and stored.amount_minor == 5000


async def test_a_slow_provider_answers_202_and_the_attempt_finishes_in_the_background(
    fresh_db: Database, clock: FakeClock
) -> None:
    world = TopupWorld(fresh_db, clock, sync_seconds=0.05, slow_seconds=0.5)
    org = await world.new_org()
    slow = number_ending(GLOBE, "0007")
    answer = await world.top_up(org, slow, 25)
    assert answer.topup is not None and not answer.finished
    # The worker must not take it over while the request's own attempt is under way.
    assert await world.run_worker() == 0
    await world.finish_sync_attempts()
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SUCCEEDED
    assert await world.simulator_sends(slow) == 1


async def test_a_ported_number_is_retried_once_with_the_operator_the_provider_names(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    ported = number_ending(GLOBE, "0008")
    answer = await world.top_up(org, ported, 25)
    topup = answer.topup
    assert topup is not None and answer.finished
    assert topup.status is TopupStatus.SUCCEEDED and topup.rerouted
    # Globe sells 25; the operator the number moved to (Smart) does not, so 20 is sent.
    assert (topup.operator_code, topup.amount_minor) == ("ph-smart", 2000)
    assert await world.balance(org) == 10_000_000 - topup.price_micro
    assert topup.attempts == 2


async def test_an_interrupted_attempt_is_looked_up_and_never_sent_twice(
    fresh_db: Database, clock: FakeClock
) -> None:
    provider = ScriptedProvider([])
    world = TopupWorld(fresh_db, clock, provider=provider)
    org = await world.new_org()
    answer = await world.top_up(org, GLOBE, 25, run_async=True)
    assert answer.topup is not None
    # A worker sends the top-up and dies before recording the answer: emulate it by sending
    # through the provider the same attempt the claim wrote down, and recording nothing.
    async with world.db.write() as conn:
        claimed = await store.claim_due_topups(
            conn, clock.now(), clock.now() + world.desk.lease, 10, not world.db.is_sqlite
        )
        started = await _begin_attempts_within(conn, claimed, clock.now())
    await provider.send_topup(_order(started[0]))
    assert await world.run_worker() == 0  # still leased to the dead worker
    world.advance(2)
    assert await world.run_worker() == 1
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SUCCEEDED
    assert len(provider.sent) == 1 and provider.lookups == [started[0].pending_ref]
    assert await world.balance(org) == 10_000_000 - stored.price_micro


async def test_an_attempt_lost_before_the_provider_is_made_again_with_its_reference(
    fresh_db: Database, clock: FakeClock
) -> None:
    provider = ScriptedProvider([])
    world = TopupWorld(fresh_db, clock, provider=provider)
    org = await world.new_org()
    answer = await world.top_up(org, GLOBE, 25, run_async=True)
    assert answer.topup is not None
    # A worker claims and writes the attempt down, then dies before calling the provider.
    async with world.db.write() as conn:
        claimed = await store.claim_due_topups(
            conn, clock.now(), clock.now() + world.desk.lease, 10, not world.db.is_sqlite
        )
        lost = (await _begin_attempts_within(conn, claimed, clock.now()))[0]
    world.advance(2)
    # The lookup finds nothing, so the attempt is due again at once: the next pass sends it,
    # under the same reference, without counting it twice.
    assert await world.run_worker() == 1
    assert provider.sent == []
    assert await world.run_worker() == 1
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SUCCEEDED and stored.attempts == 1
    assert [order.reference for order in provider.sent] == [lost.pending_ref]


async def test_a_pending_topup_is_looked_up_until_it_settles(
    fresh_db: Database, clock: FakeClock
) -> None:
    provider = ScriptedProvider([AirtimeResult(AirtimeOutcome.PENDING, transaction_id="T1")])
    world = TopupWorld(fresh_db, clock, provider=provider)
    org = await world.new_org()
    answer = await world.top_up(org, GLOBE, 25)
    assert answer.topup is not None and not answer.finished
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SENDING and stored.pending_ref
    world.advance(0.1)
    assert await world.run_worker() == 1  # still pending
    provider.delivered[stored.pending_ref] = AirtimeResult(
        AirtimeOutcome.SUCCEEDED, received_minor=2500, received_currency="PHP"
    )
    world.advance(1)
    assert await world.run_worker() == 1
    stored = await world.get(answer.topup)
    assert stored.status is TopupStatus.SUCCEEDED and len(provider.sent) == 1


async def test_a_repeated_client_dedup_is_refused_with_the_first_topup(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    first = await world.top_up(org, GLOBE, 25, client_dedup="pay-42")
    with pytest.raises(DuplicateTopup) as caught:
        await world.top_up(org, SMART, 50, client_dedup="pay-42")
    assert first.topup is not None
    assert caught.value.original.topup_id == first.topup.topup_id  # type: ignore[attr-defined]
    assert await world.balance(org) == 10_000_000 - first.topup.price_micro


async def test_twenty_identical_requests_with_one_client_dedup_pay_once(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    results = await asyncio.gather(
        *(world.top_up(org, GLOBE, 25, client_dedup="race") for _ in range(20)),
        return_exceptions=True,
    )
    answers = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, DuplicateTopup)]
    assert len(answers) == 1 and len(refusals) == 19, results
    await world.finish_sync_attempts()
    assert await world.simulator_sends(GLOBE) == 1
    charged = answers[0].topup
    assert charged is not None
    assert await world.balance(org) == 10_000_000 - charged.price_micro
    found = await listing.list_topups_page(world.db, org, TopupFilter(), 1, 100)
    assert len(found) == 1


async def test_concurrent_synchronous_topups_each_record_their_own_outcome(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    refused = number_ending(SMART, "0001")
    numbers = [number_ending(SMART, f"{n:04d}") for n in range(10, 30)] + [refused]
    answers = await asyncio.gather(*(world.top_up(org, number, 25) for number in numbers))
    by_number = {a.recipient: a.topup for a in answers if a.topup is not None}
    assert by_number.pop(refused).status is TopupStatus.FAILED
    assert [t.status for t in by_number.values()] == [TopupStatus.SUCCEEDED] * 20
    spent = sum(t.charged_micro for t in by_number.values())
    assert spent == sum(t.price_micro for t in by_number.values())
    assert await world.balance(org) == 10_000_000 - spent


async def test_a_topup_to_a_contact_shows_its_names_and_is_found_by_search(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    await update_profile(world.db, org, topup_url="https://example.org/topups")
    contact = await contacts.create_contact(
        world.db,
        world.clock,
        org,
        phones.normalise_full_number(f"+{SMART}"),
        ContactInput(first_name="Maria", last_name="Santos"),
    )
    answer = await request_topup(
        world.desk, TopupRequest(org_id=org, contact_id=contact.id, phone=None, max_amount=20)
    )
    assert answer.topup is not None
    stored = await world.get(answer.topup)
    names = (stored.first_name, stored.last_name, stored.contact_id)
    assert names == ("Maria", "Santos", contact.id)
    found = await listing.list_topups_page(world.db, org, TopupFilter(search="santos"), 1, 10)
    assert [t.row_id for t in found] == [stored.row_id]
    pushed = json.loads((await world.pushes(org))[0][2])
    assert (pushed["firstName"], pushed["lastName"]) == ("Maria", "Santos")
    with pytest.raises(UnknownContact):
        await request_topup(
            world.desk, TopupRequest(org_id=org, contact_id=999_999, phone=None, max_amount=20)
        )


async def test_final_results_are_pushed_to_the_organizations_url_and_the_results_url(
    world: TopupWorld,
) -> None:
    org = await world.new_org()
    await update_profile(world.db, org, topup_url="https://example.org/topups")
    sent = await world.top_up(org, GLOBE, 25, results_url="https://example.org/legacy")
    await world.top_up(org, number_ending(GLOBE, "0001"), 25)
    pushed = await world.pushes(org)
    assert sent.topup is not None
    about = await webhooks.list_pushes_about(world.db, org, sent.topup.topup_id)
    assert [p.url for p in about] == ["https://example.org/topups", "https://example.org/legacy"]
    assert [(url, event) for url, event, _ in pushed] == [
        ("https://example.org/topups", "topup.succeeded"),
        ("https://example.org/legacy", "topup.succeeded"),
        ("https://example.org/topups", "topup.failed"),
    ]
    record = json.loads(pushed[0][2])
    assert record["success"] is True and record["done"] is True
    assert record["topupReceived"] == 25.0 and record["topupCurrency"] == "PHP"
    legacy = json.loads(pushed[1][2])
    assert legacy["status"] == "Success" and legacy["amountSent"] == 25.0


async def test_lists_filter_failed_topups_and_page_by_cursor(world: TopupWorld) -> None:
    org = await world.new_org()
    for ending in ("1111", "0001", "2222", "0001", "3333"):
        await world.top_up(org, number_ending(GLOBE, ending), 10)
    failed = await listing.list_topups_page(world.db, org, TopupFilter(failed=True), 1, 10)
    ok = await listing.list_topups_page(world.db, org, TopupFilter(failed=False), 1, 10)
    assert len(failed) == 2 and len(ok) == 3
    first = await listing.list_topups_after(world.db, org, TopupFilter(), None, 2)
    assert first.next_after is not None
    second = await listing.list_topups_after(world.db, org, TopupFilter(), first.next_after, 2)
    third = await listing.list_topups_after(world.db, org, TopupFilter(), second.next_after, 2)
    ids = [t.row_id for page in (first, second, third) for t in page.topups]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert third.next_after is None
    assert (await billing.get_balance(world.db, org)).balance_micro < 10_000_000
