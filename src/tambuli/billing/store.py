"""SQL for balances, reservations and ledger entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing.models import (
    Balance,
    EntryKind,
    LedgerEntry,
    NewEntry,
    Reservation,
    ReservationStatus,
)
from tambuli.db.schema import ledger_entries, organizations, reservations
from tambuli.db.statements import execute, execute_many

_RESERVATION_COLUMNS = [reservations.c[f.name] for f in fields(Reservation)]
_BALANCE_COLUMNS = (
    organizations.c.balance_micro,
    organizations.c.auto_recharge,
    organizations.c.auto_recharge_threshold_micro,
    organizations.c.auto_recharge_amount_micro,
)

_INSERT_RESERVATIONS = insert(reservations).returning(
    reservations.c.id, sort_by_parameter_order=True
)
_INSERT_ENTRIES = insert(ledger_entries)

_SELECT_BALANCE = select(*_BALANCE_COLUMNS).where(organizations.c.id == bindparam("org_id"))
# The check and the change are one statement, so concurrent debits cannot overdraw.
_DEBIT_BALANCE = (
    update(organizations)
    .where(
        organizations.c.id == bindparam("org_id"),
        organizations.c.balance_micro - bindparam("amount") >= 0,
    )
    .values(balance_micro=organizations.c.balance_micro - bindparam("amount"))
    .returning(*_BALANCE_COLUMNS)
)

_ADD_TO_BALANCE = (
    update(organizations)
    .where(
        organizations.c.id == bindparam("org_id"),
        organizations.c.balance_micro + bindparam("delta") >= 0,
    )
    .values(balance_micro=organizations.c.balance_micro + bindparam("delta"))
    .returning(organizations.c.balance_micro)
)


def _to_balance(row: Sequence[Any]) -> Balance:
    """A row of _BALANCE_COLUMNS."""
    balance, auto_recharge, threshold, amount = row
    return Balance(
        balance_micro=int(balance),
        auto_recharge=bool(auto_recharge),
        auto_recharge_threshold_micro=int(threshold),
        auto_recharge_amount_micro=int(amount),
    )


async def select_balance(conn: AsyncConnection, org_id: int) -> Balance | None:
    """The organization's balance row, or None when it does not exist."""
    row = (await execute(conn, _SELECT_BALANCE, {"org_id": org_id})).first()
    return None if row is None else _to_balance(row)


async def select_balances(conn: AsyncConnection, org_ids: Sequence[int]) -> dict[int, Balance]:
    """The balance rows of these organizations (missing ones left out), in one query."""
    if not org_ids:
        return {}
    rows = await execute(
        conn, select(organizations.c.id, *_BALANCE_COLUMNS).where(organizations.c.id.in_(org_ids))
    )
    return {int(row[0]): _to_balance(row[1:]) for row in rows}


async def add_to_balance(conn: AsyncConnection, org_id: int, delta_micro: int) -> int | None:
    """Add delta (may be negative) unless the balance would go below zero.

    Returns the new balance, or None when the organization is missing or the balance too low.
    The check and the change are one statement, so concurrent debits cannot overdraw.
    """
    row = (await execute(conn, _ADD_TO_BALANCE, {"org_id": org_id, "delta": delta_micro})).first()
    return None if row is None else int(row[0])


async def debit_balance(conn: AsyncConnection, org_id: int, amount_micro: int) -> Balance | None:
    """Take amount off the balance unless it would go below zero; the new balance and settings.

    None when the organization is missing or the balance too low. One statement, so concurrent
    debits cannot overdraw, and the auto-recharge settings come back without another query.
    """
    row = (await execute(conn, _DEBIT_BALANCE, {"org_id": org_id, "amount": amount_micro})).first()
    return None if row is None else _to_balance(row)


async def insert_entry(
    conn: AsyncConnection,
    *,
    org_id: int,
    kind: EntryKind,
    amount_micro: int,
    balance_after_micro: int,
    reason: str,
    reference: str,
    reservation_id: int | None,
    now: datetime,
) -> None:
    """Append one ledger entry."""
    await execute(
        conn,
        insert(ledger_entries).values(
            org_id=org_id,
            kind=kind.value,
            amount_micro=amount_micro,
            balance_after_micro=balance_after_micro,
            reason=reason,
            reference=reference,
            reservation_id=reservation_id,
            created_at=now,
        ),
    )


async def insert_reservations(
    conn: AsyncConnection,
    org_id: int,
    amounts_micro: Sequence[int],
    reason: str,
    references: Sequence[str],
    now: datetime,
) -> list[int]:
    """Record several held reservations in one statement; their IDs in the same order."""
    rows = [
        {
            "org_id": org_id,
            "amount_micro": amount,
            "status": ReservationStatus.HELD.value,
            "reason": reason,
            "reference": reference,
            "created_at": now,
        }
        for amount, reference in zip(amounts_micro, references, strict=True)
    ]
    return (await execute_many(conn, _INSERT_RESERVATIONS, rows)).scalars()


async def insert_entries(conn: AsyncConnection, now: datetime, entries: Sequence[NewEntry]) -> None:
    """Append ledger entries made at `now`."""
    rows = [
        {
            "org_id": e.org_id,
            "kind": e.kind.value,
            "amount_micro": e.amount_micro,
            "balance_after_micro": e.balance_after_micro,
            "reason": e.reason,
            "reference": e.reference,
            "reservation_id": e.reservation_id,
            "created_at": now,
        }
        for e in entries
    ]
    await execute_many(conn, _INSERT_ENTRIES, rows)


def _to_reservation(row: Sequence[Any]) -> Reservation:
    """A row of _RESERVATION_COLUMNS, unpacked in field order (settling reads hundreds at once)."""
    row_id, org_id, amount, charged, refunded, status, reason, reference = row
    return Reservation(
        row_id, org_id, amount, charged, refunded, ReservationStatus(status), reason, reference
    )


async def select_reservation(conn: AsyncConnection, reservation_id: int) -> Reservation | None:
    """One reservation, or None."""
    row = (
        await execute(
            conn, select(*_RESERVATION_COLUMNS).where(reservations.c.id == reservation_id)
        )
    ).one_or_none()
    return None if row is None else _to_reservation(row)


_SELECT_RESERVATIONS = (
    select(*_RESERVATION_COLUMNS)
    .where(reservations.c.id.in_(bindparam("id", expanding=True)))
    .order_by(reservations.c.id)
    .with_for_update()
)


async def select_reservations(
    conn: AsyncConnection, reservation_ids: Sequence[int]
) -> dict[int, Reservation]:
    """Reservations by ID (missing ones are absent), locked until the transaction ends.

    The lock (PostgreSQL; SQLite has one writer anyway) makes the status read here the status
    an update in the same transaction sees.
    """
    rows = await execute(conn, _SELECT_RESERVATIONS, {"id": reservation_ids})
    found = [_to_reservation(row) for row in rows]
    return {reservation.id: reservation for reservation in found}


# Closes one held reservation per row (see db/statements.py).
_CLOSE_RESERVATION = (
    update(reservations)
    .where(
        reservations.c.id == bindparam("id"),
        reservations.c.status == ReservationStatus.HELD.value,
    )
    .values(
        status=bindparam("status"),
        charged_micro=bindparam("charged"),
        closed_at=bindparam("now"),
    )
)


async def close_reservations(
    conn: AsyncConnection,
    charges: Sequence[tuple[int, int]],
    status: ReservationStatus,
    now: datetime,
) -> None:
    """Mark held reservations (ID, charge) settled or released (lock them first)."""
    rows = [
        {"id": reservation_id, "charged": charged, "status": status.value, "now": now}
        for reservation_id, charged in charges
    ]
    await execute_many(conn, _CLOSE_RESERVATION, rows)


async def update_auto_recharge(
    conn: AsyncConnection, org_id: int, enabled: bool, threshold_micro: int, amount_micro: int
) -> bool:
    """Store auto-recharge settings; False if the organization does not exist."""
    result = await execute(
        conn,
        update(organizations)
        .where(organizations.c.id == org_id)
        .values(
            auto_recharge=enabled,
            auto_recharge_threshold_micro=threshold_micro,
            auto_recharge_amount_micro=amount_micro,
        ),
    )
    return int(result.rowcount) == 1


async def select_entries(
    conn: AsyncConnection, org_id: int, limit: int, before_id: int | None = None
) -> list[LedgerEntry]:
    """The organization's newest ledger entries (with IDs below before_id, when given),
    newest first."""
    query = select(ledger_entries).where(ledger_entries.c.org_id == org_id)
    if before_id is not None:
        query = query.where(ledger_entries.c.id < before_id)
    rows = await execute(conn, query.order_by(ledger_entries.c.id.desc()).limit(limit))
    return [
        LedgerEntry(
            id=int(r.id),
            kind=EntryKind(r.kind),
            amount_micro=int(r.amount_micro),
            balance_after_micro=int(r.balance_after_micro),
            reason=r.reason,
            reference=r.reference,
            reservation_id=r.reservation_id,
            created_at=r.created_at,
        )
        for r in rows
    ]
