"""Reservations: money set aside for work, then settled (charged) or released.

The only way money is reserved and given back. Every function takes a batch (a single
reservation is a batch of one): one balance update per organization and one statement per table,
so a batch of a hundred messages costs a handful of statements instead of hundreds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import store
from tambuli.billing.models import EntryKind, NewEntry, ReservationStatus, check_amount
from tambuli.billing.service import recharge_if_low_within
from tambuli.clock import Clock
from tambuli.errors import (
    InsufficientFunds,
    InvalidAmount,
    OrganizationNotFound,
    ReservationClosed,
    ReservationNotFound,
)


async def reserve_many_within(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    amounts_micro: Sequence[int],
    reason: str,
    references: Sequence[str],
) -> list[int]:
    """Set aside several amounts at once, all or none; their reservation IDs, in order.

    One balance update for the sum and one insert each for the reservations and the ledger
    entries, however many there are. InsufficientFunds when the sum does not fit, and then
    nothing is reserved.
    """
    if not amounts_micro:
        return []
    for amount in amounts_micro:
        check_amount(amount)
    now = clock.now()
    total = sum(amounts_micro)
    balance = await store.debit_balance(conn, org_id, total)
    if balance is None:
        if await store.select_balance(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        raise InsufficientFunds()
    reservation_ids = await store.insert_reservations(
        conn, org_id, amounts_micro, reason, references, now
    )
    # Each entry shows the balance as if the reservations had been made one after another.
    running = balance.balance_micro + total
    entries: list[NewEntry] = []
    for reservation_id, amount, reference in zip(
        reservation_ids, amounts_micro, references, strict=True
    ):
        running -= amount
        entries.append(
            NewEntry(org_id, EntryKind.RESERVE, -amount, running, reason, reference, reservation_id)
        )
    await store.insert_entries(conn, now, entries)
    await recharge_if_low_within(conn, clock, org_id, balance)
    return reservation_ids


async def reserve_each_within(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    amounts_micro: Sequence[int],
    reason: str,
    references: Sequence[str],
) -> list[int | InsufficientFunds]:
    """Reserve several amounts of one organization: together if the sum fits, else in order.

    Per amount, its reservation ID or the InsufficientFunds that refused it; a refusal
    changes nothing for that amount. Call it for organizations in ID order (the lock order of
    every batch).
    """
    # No savepoints: a reservation refused for want of money has written nothing (the balance
    # update matched no row), so the transaction carries on cleanly after InsufficientFunds.
    try:
        return list(
            await reserve_many_within(conn, clock, org_id, amounts_micro, reason, references)
        )
    except InsufficientFunds:
        pass
    answers: list[int | InsufficientFunds] = []
    for amount, reference in zip(amounts_micro, references, strict=True):
        try:
            [reservation_id] = await reserve_many_within(
                conn, clock, org_id, [amount], reason, [reference]
            )
            answers.append(reservation_id)
        except InsufficientFunds as exc:
            answers.append(exc)
    return answers


async def settle_many_within(
    conn: AsyncConnection, clock: Clock, charges: Sequence[tuple[int, int]]
) -> None:
    """End reservations (reservation ID, charge); what is not charged comes back."""
    await _close_many(conn, clock, charges, ReservationStatus.SETTLED, EntryKind.SETTLE)


async def release_many_within(
    conn: AsyncConnection, clock: Clock, reservation_ids: Sequence[int]
) -> None:
    """End reservations without any charge: all of each comes back."""
    await _close_many(
        conn,
        clock,
        [(r, 0) for r in reservation_ids],
        ReservationStatus.RELEASED,
        EntryKind.RELEASE,
    )


async def _close_many(
    conn: AsyncConnection,
    clock: Clock,
    charges: Sequence[tuple[int, int]],
    status: ReservationStatus,
    kind: EntryKind,
) -> None:
    if not charges:
        return
    ids = [reservation_id for reservation_id, _ in charges]
    if len(set(ids)) != len(ids):
        raise ReservationClosed("A reservation appears twice in one batch")
    found = await store.select_reservations(conn, ids)
    for reservation_id, charged in charges:
        reservation = found.get(reservation_id)
        if reservation is None:
            raise ReservationNotFound(f"No reservation with ID {reservation_id}")
        if reservation.status != ReservationStatus.HELD:
            raise ReservationClosed()
        if not 0 <= charged <= reservation.amount_micro:
            raise InvalidAmount("The charge must be between zero and the reserved amount")
    now = clock.now()
    await store.close_reservations(conn, charges, status, now)
    returned: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for reservation_id, charged in charges:
        reservation = found[reservation_id]
        returned[reservation.org_id].append((reservation_id, reservation.amount_micro - charged))
    entries: list[NewEntry] = []
    # Balance rows are locked in one global order (by ID), so two batches that touch the same
    # organizations in different orders cannot deadlock on PostgreSQL.
    for org_id in sorted(returned):
        amounts = returned[org_id]
        total = sum(amount for _, amount in amounts)
        balance = await store.add_to_balance(conn, org_id, total) if total else None
        if balance is None:
            current = await store.select_balance(conn, org_id)
            if current is None:
                raise OrganizationNotFound(f"No organization with ID {org_id}")
            balance = current.balance_micro
        # Entries show the balance as if the reservations had closed one after another.
        running = balance - total
        for reservation_id, amount in amounts:
            running += amount
            reservation = found[reservation_id]
            entries.append(
                NewEntry(
                    org_id,
                    kind,
                    amount,
                    running,
                    reservation.reason,
                    reservation.reference,
                    reservation_id,
                )
            )
    await store.insert_entries(conn, now, entries)
