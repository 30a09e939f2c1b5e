"""Claiming due rows: how workers take work from the tables that are the queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def claim_due_rows(
    conn: AsyncConnection,
    table: Table,
    due_at: Column[Any],
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip_locked: bool,
    returning: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]] = (),
    also_set: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Take up to `limit` rows due by `now` (oldest due first), ordered by ID.

    Claiming moves a row's due time to `lease_until`: if its worker dies before recording an
    outcome, the row comes due again then and another worker takes it over. PostgreSQL workers
    skip rows another worker is claiming; SQLite has one writer, so the update itself is the
    compare-and-set.
    """
    key = table.c.id
    due = select(key).where(due_at <= now, *where).order_by(due_at, key).limit(limit)
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    rows = await conn.execute(
        update(table)
        .where(key.in_(due.scalar_subquery()))
        .values({due_at.name: lease_until, **(also_set or {})})
        .returning(*returning)
    )
    # RETURNING gives no order guarantee; work is handed on in the order it came due.
    return sorted(rows, key=lambda row: row.id)


async def any_due_row(
    conn: AsyncConnection,
    due_at: Column[Any],
    *,
    now: datetime,
    where: Sequence[ColumnElement[bool]] = (),
) -> bool:
    """Whether some row is due: one cheap read, so an idle worker need not take a write lock."""
    row = (await conn.execute(select(due_at).where(due_at <= now, *where).limit(1))).first()
    return row is not None
