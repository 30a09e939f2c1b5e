"""The balance ledger: credit, reserve, settle, release, refund, auto-recharge."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from tambuli.billing import service as billing
from tambuli.billing.models import EntryKind, ReservationStatus
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import ledger_entries
from tambuli.errors import (
    InsufficientFunds,
    InvalidAmount,
    OrganizationNotFound,
    ReservationClosed,
)
from tests.conftest import OrgFactory

PRICE = 20_000


async def _ledger_sum(db: Database, org_id: int) -> int:
    async with db.read() as conn:
        total = await conn.execute(
            select(func.coalesce(func.sum(ledger_entries.c.amount_micro), 0)).where(
                ledger_entries.c.org_id == org_id
            )
        )
        return int(total.scalar_one())


async def test_a_credit_adds_to_the_balance_and_is_recorded_in_the_ledger(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    assert await billing.credit_balance(db, clock, org.org_id, 1_500_000, "top-up", "ref-1") == (
        1_500_000
    )
    entries = await billing.list_ledger_entries(db, org.org_id)
    assert [(e.kind, e.amount_micro, e.balance_after_micro) for e in entries] == [
        (EntryKind.CREDIT, 1_500_000, 1_500_000)
    ]
    assert entries[0].reason == "top-up"
    assert entries[0].reference == "ref-1"


async def test_a_reservation_leaves_the_spendable_balance_until_it_ends(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, 60_000, "sms", "SMS1")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 40_000
    with pytest.raises(InsufficientFunds):
        await billing.reserve_funds(db, clock, org.org_id, 40_001, "sms", "SMS2")
    await billing.release_reservation(db, clock, reservation)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000
    found = await billing.get_reservation(db, reservation)
    assert found.status == ReservationStatus.RELEASED
    assert found.charged_micro == 0


async def test_settling_charges_only_what_was_used_and_returns_the_rest(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, 3 * PRICE, "sms", "SMS1")
    await billing.settle_reservation(db, clock, reservation, 2 * PRICE)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000 - 2 * PRICE
    found = await billing.get_reservation(db, reservation)
    assert (found.status, found.charged_micro) == (ReservationStatus.SETTLED, 2 * PRICE)
    assert await _ledger_sum(db, org.org_id) == 100_000 - 2 * PRICE


async def test_a_reservation_ends_only_once(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, PRICE, "sms", "SMS1")
    await billing.settle_reservation(db, clock, reservation, PRICE)
    with pytest.raises(ReservationClosed):
        await billing.release_reservation(db, clock, reservation)
    with pytest.raises(ReservationClosed):
        await billing.settle_reservation(db, clock, reservation, 0)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000 - PRICE


async def test_a_charge_cannot_exceed_the_reservation(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, PRICE, "sms", "SMS1")
    with pytest.raises(InvalidAmount):
        await billing.settle_reservation(db, clock, reservation, PRICE + 1)
    with pytest.raises(InvalidAmount):
        await billing.settle_reservation(db, clock, reservation, -1)
    assert (await billing.get_reservation(db, reservation)).status == ReservationStatus.HELD


async def test_refunds_give_back_at_most_what_was_charged(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, 2 * PRICE, "sms", "SMS1")
    await billing.settle_reservation(db, clock, reservation, 2 * PRICE)
    await billing.refund_charge(db, clock, reservation, PRICE, "part failed")
    with pytest.raises(InvalidAmount):
        await billing.refund_charge(db, clock, reservation, PRICE + 1, "too much")
    await billing.refund_charge(db, clock, reservation, PRICE, "rest failed")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000
    kinds = [e.kind for e in await billing.list_ledger_entries(db, org.org_id)]
    assert kinds == [
        EntryKind.REFUND,
        EntryKind.REFUND,
        EntryKind.SETTLE,
        EntryKind.RESERVE,
        EntryKind.CREDIT,
    ]


async def test_a_refund_of_a_reservation_still_held_is_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await billing.reserve_funds(db, clock, org.org_id, PRICE, "sms", "SMS1")
    with pytest.raises(InvalidAmount):
        await billing.refund_charge(db, clock, reservation, 1, "early")


@pytest.mark.parametrize("amount", [0, -5])
async def test_zero_and_negative_amounts_are_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory, amount: int
) -> None:
    org = await make_org(balance_micro=100_000)
    with pytest.raises(InvalidAmount):
        await billing.credit_balance(db, clock, org.org_id, amount, "bad")
    with pytest.raises(InvalidAmount):
        await billing.reserve_funds(db, clock, org.org_id, amount, "bad")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000


async def test_money_for_a_missing_organization_is_refused(db: Database, clock: FakeClock) -> None:
    with pytest.raises(OrganizationNotFound):
        await billing.credit_balance(db, clock, 987_654_321, 10, "nobody")
    with pytest.raises(OrganizationNotFound):
        await billing.reserve_funds(db, clock, 987_654_321, 10, "nobody")
    with pytest.raises(OrganizationNotFound):
        await billing.get_balance(db, 987_654_321)


async def test_auto_recharge_credits_the_amount_when_the_balance_falls_below_the_threshold(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    await billing.set_auto_recharge(db, org.org_id, threshold_micro=50_000, amount_micro=200_000)
    await billing.reserve_funds(db, clock, org.org_id, 40_000, "sms", "above threshold")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 60_000
    await billing.reserve_funds(db, clock, org.org_id, 20_000, "sms", "below threshold")
    found = await billing.get_balance(db, org.org_id)
    assert found.balance_micro == 240_000
    assert found.auto_recharge
    assert (found.auto_recharge_threshold_micro, found.auto_recharge_amount_micro) == (
        50_000,
        200_000,
    )
    newest = (await billing.list_ledger_entries(db, org.org_id, limit=1))[0]
    assert (newest.kind, newest.reason) == (EntryKind.CREDIT, billing.AUTO_RECHARGE_REASON)
    await billing.turn_off_auto_recharge(db, org.org_id)
    await billing.reserve_funds(db, clock, org.org_id, 200_000, "sms", "no recharge")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 40_000


async def test_the_balance_always_equals_the_sum_of_the_ledger(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_000_000)
    held = [
        await billing.reserve_funds(db, clock, org.org_id, PRICE * (i + 1), "sms", f"S{i}")
        for i in range(5)
    ]
    await billing.settle_reservation(db, clock, held[0], PRICE)
    await billing.settle_reservation(db, clock, held[1], 0)
    await billing.release_reservation(db, clock, held[2])
    await billing.settle_reservation(db, clock, held[3], 3 * PRICE)
    await billing.refund_charge(db, clock, held[3], PRICE, "refund")
    balance = (await billing.get_balance(db, org.org_id)).balance_micro
    assert balance == await _ledger_sum(db, org.org_id)
    assert balance == 1_000_000 - PRICE - 2 * PRICE - 5 * PRICE


async def test_fifty_concurrent_reservations_never_overdraw_a_balance_that_covers_ten(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=10 * PRICE)
    # Five independent engines, as five processes would have, racing ten requests each.
    engines = [Database(db.url) for _ in range(5)]

    async def reserve(engine: Database, n: int) -> bool:
        try:
            await billing.reserve_funds(engine, clock, org.org_id, PRICE, "race", f"R{n}")
        except InsufficientFunds:
            return False
        return True

    try:
        results = await asyncio.gather(
            *(reserve(engines[n % 5], n) for n in range(50)),
        )
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))
    assert sum(results) == 10
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 0
    assert await _ledger_sum(db, org.org_id) == 0
