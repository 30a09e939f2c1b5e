"""Claiming due rows: how workers take work from the tables that are the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.statements import execute


@dataclass(frozen=True, eq=False)
class DueRows:
    """The rows of one queue that workers take, and what a claim returns of them.

    Keep one as a module constant per queue: its statements are built and compiled once.
    """

    table: Table
    due_at: Column[Any]
    where: tuple[ColumnElement[bool], ...] = ()
    returning: tuple[ColumnElement[Any], ...] = ()
    # Columns set to the lease's end along with due_at when a row is claimed.
    leased: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _any_due_statement(due: DueRows) -> Select[Any]:
    return select(due.due_at).where(due.due_at <= bindparam("now"), *due.where).limit(1)


@lru_cache(maxsize=64)
def _claim_statement(due: DueRows, skip_locked: bool) -> Update:
    key = due.table.c.id
    pick = (
        select(key)
        .where(due.due_at <= bindparam("now"), *due.where)
        .order_by(due.due_at, key)
        .limit(bindparam("limit"))
    )
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    lease = bindparam("lease_until", type_=due.due_at.type)
    return (
        update(due.table)
        .where(key.in_(pick.scalar_subquery()))
        .values({name: lease for name in (due.due_at.name, *due.leased)})
        .returning(*due.returning)
    )


async def claim_due_rows(
    conn: AsyncConnection,
    due: DueRows,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[Any]:
    """Take up to `limit` rows due by `now` (oldest due first), ordered by ID.

    Claiming moves a row's due time to `lease_until`: if its worker dies before recording an
    outcome, the row comes due again then and another worker takes it over. PostgreSQL workers
    skip rows another worker is claiming; SQLite has one writer, so the update itself is the
    compare-and-set. Rows hold `due.returning`, which must include the table's `id`.
    """
    rows = await execute(
        conn,
        _claim_statement(due, skip_locked),
        {"now": now, "lease_until": lease_until, "limit": limit},
    )
    # RETURNING gives no order guarantee; work is handed on in the order it came due.
    return sorted(rows, key=lambda row: row.id)


async def any_due_row(conn: AsyncConnection, due: DueRows, *, now: datetime) -> bool:
    """Whether some row is due: one cheap read, so an idle worker need not take a write lock."""
    return bool(await execute(conn, _any_due_statement(due), {"now": now}))


@lru_cache(maxsize=64)
def _count_statement(due: DueRows) -> Select[Any]:
    now = bindparam("now", type_=due.due_at.type)
    if "lease_until" in due.leased:
        lease = due.table.c.lease_until
        claimed: ColumnElement[bool] = and_(lease.is_not(None), lease > now)
    else:
        claimed = false()  # no lease column: a claim cannot be told from a later time
    waiting = ~claimed
    return select(
        func.coalesce(func.sum(case((and_(waiting, due.due_at <= now), 1), else_=0)), 0),
        func.coalesce(
            func.sum(
                case((and_(waiting, or_(due.due_at.is_(None), due.due_at > now)), 1), else_=0)
            ),
            0,
        ),
        func.coalesce(func.sum(case((claimed, 1), else_=0)), 0),
    ).where(*due.where)


async def count_queued_rows(
    conn: AsyncConnection, due: DueRows, *, now: datetime
) -> dict[str, int]:
    """How many rows of the queue are due now, wait for a later time, or are claimed by a
    worker (states "due", "later", "claimed")."""
    row = (await execute(conn, _count_statement(due), {"now": now})).one()
    return {"due": int(row[0]), "later": int(row[1]), "claimed": int(row[2])}
