"""The balance ledger: credit, reserve, settle, release, auto-recharge."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from tambuli.billing import reservations as funds
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


async def reserve(
    db: Database, clock: FakeClock, org_id: int, amount: int, reason: str, reference: str = ""
) -> int:
    """Set one amount aside in a transaction of its own; its reservation ID."""
    async with db.write() as conn:
        [reservation_id] = await funds.reserve_many_within(
            conn, clock, org_id, [amount], reason, [reference]
        )
    return reservation_id


async def settle(db: Database, clock: FakeClock, reservation_id: int, charged: int) -> None:
    """Settle one reservation in a transaction of its own."""
    async with db.write() as conn:
        await funds.settle_many_within(conn, clock, [(reservation_id, charged)])


async def release(db: Database, clock: FakeClock, reservation_id: int) -> None:
    """Release one reservation in a transaction of its own."""
    async with db.write() as conn:
        await funds.release_many_within(conn, clock, [reservation_id])


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
    reservation = await reserve(db, clock, org.org_id, 60_000, "sms", "SMS1")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 40_000
    with pytest.raises(InsufficientFunds):
        await reserve(db, clock, org.org_id, 40_001, "sms", "SMS2")
    await release(db, clock, reservation)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000
    found = await billing.get_reservation(db, reservation)
    assert found.status == ReservationStatus.RELEASED
    assert found.charged_micro == 0


async def test_settling_charges_only_what_was_used_and_returns_the_rest(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await reserve(db, clock, org.org_id, 3 * PRICE, "sms", "SMS1")
    await settle(db, clock, reservation, 2 * PRICE)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000 - 2 * PRICE
    found = await billing.get_reservation(db, reservation)
    assert (found.status, found.charged_micro) == (ReservationStatus.SETTLED, 2 * PRICE)
    assert await _ledger_sum(db, org.org_id) == 100_000 - 2 * PRICE


async def test_a_reservation_ends_only_once(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await reserve(db, clock, org.org_id, PRICE, "sms", "SMS1")
    await settle(db, clock, reservation, PRICE)
    with pytest.raises(ReservationClosed):
        await release(db, clock, reservation)
    with pytest.raises(ReservationClosed):
        await settle(db, clock, reservation, 0)
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000 - PRICE


async def test_a_charge_cannot_exceed_the_reservation(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    reservation = await reserve(db, clock, org.org_id, PRICE, "sms", "SMS1")
    with pytest.raises(InvalidAmount):
        await settle(db, clock, reservation, PRICE + 1)
    with pytest.raises(InvalidAmount):
        await settle(db, clock, reservation, -1)
    assert (await billing.get_reservation(db, reservation)).status == ReservationStatus.HELD


@pytest.mark.parametrize("amount", [0, -5])
async def test_zero_and_negative_amounts_are_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory, amount: int
) -> None:
    org = await make_org(balance_micro=100_000)
    with pytest.raises(InvalidAmount):
        await billing.credit_balance(db, clock, org.org_id, amount, "bad")
    with pytest.raises(InvalidAmount):
        await reserve(db, clock, org.org_id, amount, "bad")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 100_000


async def test_money_for_a_missing_organization_is_refused(db: Database, clock: FakeClock) -> None:
    with pytest.raises(OrganizationNotFound):
        await billing.credit_balance(db, clock, 987_654_321, 10, "nobody")
    with pytest.raises(OrganizationNotFound):
        await reserve(db, clock, 987_654_321, 10, "nobody")
    with pytest.raises(OrganizationNotFound):
        await billing.get_balance(db, 987_654_321)


async def test_auto_recharge_credits_the_amount_when_the_balance_falls_below_the_threshold(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=100_000)
    await billing.set_auto_recharge(db, org.org_id, threshold_micro=50_000, amount_micro=200_000)
    await reserve(db, clock, org.org_id, 40_000, "sms", "above threshold")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 60_000
    await reserve(db, clock, org.org_id, 20_000, "sms", "below threshold")
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
    await reserve(db, clock, org.org_id, 200_000, "sms", "no recharge")
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 40_000


async def test_the_balance_always_equals_the_sum_of_the_ledger(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=1_000_000)
    held = [await reserve(db, clock, org.org_id, PRICE * (i + 1), "sms", f"S{i}") for i in range(5)]
    await settle(db, clock, held[0], PRICE)
    await settle(db, clock, held[1], 0)
    await release(db, clock, held[2])
    await settle(db, clock, held[3], 3 * PRICE)
    balance = (await billing.get_balance(db, org.org_id)).balance_micro
    assert balance == await _ledger_sum(db, org.org_id)
    assert balance == 1_000_000 - PRICE - 3 * PRICE - 5 * PRICE


async def test_fifty_concurrent_reservations_never_overdraw_a_balance_that_covers_ten(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org(balance_micro=10 * PRICE)
    # Five independent engines, as five processes would have, racing ten requests each.
    engines = [Database(db.url) for _ in range(5)]

    async def try_reserving(engine: Database, n: int) -> bool:
        try:
            await reserve(engine, clock, org.org_id, PRICE, "race", f"R{n}")
        except InsufficientFunds:
            return False
        return True

    try:
        results = await asyncio.gather(
            *(try_reserving(engines[n % 5], n) for n in range(50)),
        )
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))
    assert sum(results) == 10
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 0
    assert await _ledger_sum(db, org.org_id) == 0
