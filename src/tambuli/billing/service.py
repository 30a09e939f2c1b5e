"""Use cases on the balance: credit, auto-recharge, the ledger (reservations: reservations.py).

The `*_within` functions run inside a caller's transaction, so a feature can reserve money and
enqueue its work in one commit; the others own their transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import store
from tambuli.billing.models import (
    Balance,
    EntryKind,
    LedgerEntry,
    Reservation,
    check_amount,
)
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import (
    InsufficientFunds,
    OrganizationNotFound,
    ReservationNotFound,
)

AUTO_RECHARGE_REASON = "auto-recharge"


async def get_balance(db: Database, org_id: int) -> Balance:
    """The organization's spendable balance and auto-recharge settings."""
    async with db.read() as conn:
        balance = await store.select_balance(conn, org_id)
    if balance is None:
        raise OrganizationNotFound(f"No organization with ID {org_id}")
    return balance


async def list_balances(db: Database, org_ids: list[int]) -> dict[int, Balance]:
    """The balances of several organizations at once (an unknown ID is left out)."""
    async with db.read() as conn:
        return await store.select_balances(conn, org_ids)


async def move_balance_within(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    kind: EntryKind,
    delta_micro: int,
    reason: str,
    reference: str,
    reservation_id: int | None = None,
) -> int:
    """Add delta (may be negative) to the balance with its ledger entry; the new balance."""
    if delta_micro == 0:
        # A reservation charged in full moves no money: reading the balance instead of
        # rewriting it spares the hottest row of the database a dead version per message.
        current = await store.select_balance(conn, org_id)
        if current is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        new_balance: int | None = current.balance_micro
    else:
        new_balance = await store.add_to_balance(conn, org_id, delta_micro)
    if new_balance is None:
        if await store.select_balance(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        raise InsufficientFunds()
    await store.insert_entry(
        conn,
        org_id=org_id,
        kind=kind,
        amount_micro=delta_micro,
        balance_after_micro=new_balance,
        reason=reason,
        reference=reference,
        reservation_id=reservation_id,
        now=clock.now(),
    )
    return new_balance


async def credit_balance_within(
    conn: AsyncConnection, clock: Clock, org_id: int, amount_micro: int, reason: str, reference: str
) -> int:
    """Add money to the balance inside the caller's transaction; returns the new balance."""
    check_amount(amount_micro)
    return await move_balance_within(
        conn, clock, org_id, EntryKind.CREDIT, amount_micro, reason, reference
    )


async def credit_balance(
    db: Database, clock: Clock, org_id: int, amount_micro: int, reason: str, reference: str = ""
) -> int:
    """Add money to the balance; returns the new balance in micro-USD."""
    async with db.write() as conn:
        return await credit_balance_within(conn, clock, org_id, amount_micro, reason, reference)


async def recharge_if_low_within(
    conn: AsyncConnection, clock: Clock, org_id: int, balance: Balance
) -> None:
    """Credit the auto-recharge amount when a debit left the balance below the threshold."""
    if balance.auto_recharge and balance.balance_micro < balance.auto_recharge_threshold_micro:
        await move_balance_within(
            conn,
            clock,
            org_id,
            EntryKind.CREDIT,
            balance.auto_recharge_amount_micro,
            AUTO_RECHARGE_REASON,
            f"threshold {balance.auto_recharge_threshold_micro}",
        )


async def get_reservation(db: Database, reservation_id: int) -> Reservation:
    """One reservation; ReservationNotFound when missing."""
    async with db.read() as conn:
        reservation = await store.select_reservation(conn, reservation_id)
    if reservation is None:
        raise ReservationNotFound(f"No reservation with ID {reservation_id}")
    return reservation


async def set_auto_recharge(
    db: Database, org_id: int, threshold_micro: int, amount_micro: int
) -> None:
    """Turn auto-recharge on: below the threshold, the amount is credited automatically."""
    check_amount(threshold_micro, allow_zero=True)
    check_amount(amount_micro)
    async with db.write() as conn:
        if not await store.update_auto_recharge(conn, org_id, True, threshold_micro, amount_micro):
            raise OrganizationNotFound(f"No organization with ID {org_id}")


async def turn_off_auto_recharge(db: Database, org_id: int) -> None:
    """Turn auto-recharge off (and forget its threshold and amount)."""
    async with db.write() as conn:
        if not await store.update_auto_recharge(conn, org_id, False, 0, 0):
            raise OrganizationNotFound(f"No organization with ID {org_id}")


async def list_ledger_entries(
    db: Database, org_id: int, limit: int = 50, before_id: int | None = None
) -> list[LedgerEntry]:
    """The organization's newest ledger entries (older than entry before_id, when given),
    newest first."""
    async with db.read() as conn:
        if await store.select_balance(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        return await store.select_entries(conn, org_id, limit, before_id)
