"""One statement run over many rows (executemany), cheaply on SQLite.

SQLAlchemy prepares every row of an executemany in Python: it builds the row's full parameter
set, runs each value's type processor, and for INSERT … RETURNING renders multi-row VALUES
batches. For the hundreds of rows an intake or a dispatch batch writes, that cost 20 to 60 µs a row
on SQLite, several times what SQLite needs to store it. On SQLite these functions compile the
statement once and hand plain tuples to the driver's own executemany (on the loop thread, like
every SQLite statement: see sqlite_inline.py). PostgreSQL keeps SQLAlchemy's path; asyncpg
already sends a batch in one round trip.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.direct import SqlitePlan, plan_slots, raw_sqlite_connection

# Statements are compiled once per (statement, row keys); callers keep them as module constants.
_PLAN_CACHE_SIZE = 256


def bind_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows keyed for `bindparam("b_<name>")`.

    SQLAlchemy reserves column names for its own parameters in UPDATE … SET, so many-row updates
    name theirs with a "b_" prefix.
    """
    return [{f"b_{key}": value for key, value in row.items()} for row in rows]


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _plan_for_sqlite(
    statement: Insert | Update, keys: tuple[str, ...], dialect: Dialect
) -> SqlitePlan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    return SqlitePlan(str(compiled), plan_slots(compiled, keys, dialect))


async def _sqlite_executemany(
    conn: AsyncConnection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> sqlite3.Connection:
    plan = _plan_for_sqlite(statement, tuple(sorted(rows[0])), conn.dialect)
    parameters = [plan.bind(row) for row in rows]
    raw = raw_sqlite_connection(conn)
    # A plain cursor: the connection's own (sqlite_inline.InlineCursor) expects to be called
    # from SQLAlchemy's execution.
    cursor = sqlite3.Cursor(raw)
    try:
        cursor.executemany(plan.sql, parameters)
    finally:
        cursor.close()
    return raw


async def execute_rows(
    conn: AsyncConnection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run an INSERT or UPDATE once per row, in the caller's transaction.

    Every row has the same keys. The statement should be a module constant: on SQLite it is
    compiled once per set of keys and kept.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        await conn.execute(statement, list(rows))
        return
    await _sqlite_executemany(conn, statement, rows)


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _insert_into(table: Table) -> Insert:
    return insert(table)


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _insert_returning_ids(table: Table) -> Insert:
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _count_ids_between(table: Table, dialect: Dialect) -> str:
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.id.between(bindparam("first"), bindparam("last")))
    )
    return str(query.compile(dialect=dialect))


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows (dicts of column values, all with the same keys) into `table`."""
    await execute_rows(conn, _insert_into(table), rows)


async def insert_rows_returning_ids(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert rows into a table with an integer `id` primary key; their new IDs, in order."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        result = await conn.execute(_insert_returning_ids(table), list(rows))
        return [int(row.id) for row in result]
    raw = await _sqlite_executemany(conn, _insert_into(table), rows)
    cursor = sqlite3.Cursor(raw)
    try:
        last = int(cursor.execute("SELECT last_insert_rowid()").fetchone()[0])
        first = last - len(rows) + 1
        # The write transaction holds SQLite's only write lock, and a new rowid is one more than
        # the largest, so one executemany's rows are numbered first..last. SQLite numbers at
        # random only once an ID reaches 2**63 - 1; the count makes sure that never went unseen.
        found = cursor.execute(_count_ids_between(table, conn.dialect), (first, last)).fetchone()[0]
    finally:
        cursor.close()
    if found != len(rows):
        raise RuntimeError(f"{table.name}: the new rows are not numbered {first}..{last}")
    return list(range(first, last + 1))
