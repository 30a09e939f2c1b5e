"""Statements run straight on SQLite's own cursor, compiled once by SQLAlchemy.

Executing even an already compiled statement through SQLAlchemy's async Core cost about 100 µs
of CPU here (greenlet switches, parameter and result processing, result objects), and building
the statement anew each time another 300; SQLite answers the one-row balance update of a batch
in about 6 µs. The statements that run once or more per batch on the delivery path are module
constants with named bind parameters; on SQLite this module compiles each once, binds the
parameters by position with the column types' own converters, and converts the result columns
the same way. PostgreSQL keeps SQLAlchemy's path.

Each statement runs in the caller's transaction: the raw cursor belongs to the same connection,
and SQLite statements never yield the event loop (see sqlite_inline.py).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import BindParameter, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Select, Update
from sqlalchemy.types import TypeEngine

from tambuli.db.types import UTCDateTime, format_sqlite_datetime

Statement = Select[Any] | Insert | Update | Delete
# An IN list is this many parameters, so its statement has one compiled form: longer lists run
# in chunks, and the last chunk repeats a value to fill its places (see fetch_rows_in).
IN_LIST_SIZE = 64
Converter = Callable[[Any], Any]
# Statements are compiled once each; callers keep them as module constants.
_PLAN_CACHE_SIZE = 256

# The rows of a batch mostly share their times (the batch's "now"); each is formatted once.
_convert_datetime = lru_cache(maxsize=1024)(format_sqlite_datetime)


@dataclass(frozen=True)
class Slot:
    """Where one positional parameter comes from: a row's key, or a value fixed in the statement."""

    key: str | None
    constant: Any
    convert: Converter | None


@dataclass(frozen=True)
class SqlitePlan:
    """A statement compiled for SQLite: its SQL, its parameters in order, its result converters."""

    sql: str
    slots: tuple[Slot, ...]
    results: tuple[Converter | None, ...] = ()
    # Result rows are tuples that also name their columns, as SQLAlchemy's rows do.
    row_type: Callable[[Iterable[Any]], tuple[Any, ...]] = tuple

    def bind(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's parameters in statement order, converted as the column types convert them."""
        values = [row[key] if key is not None else constant for key, constant in self._sources]
        # Only the few parameters whose type converts anything are visited: a batch binds
        # hundreds of rows.
        for index, convert in self._conversions:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        return tuple(values)

    @cached_property
    def _sources(self) -> tuple[tuple[str | None, Any], ...]:
        return tuple((slot.key, slot.constant) for slot in self.slots)

    @cached_property
    def _conversions(self) -> tuple[tuple[int, Converter], ...]:
        return tuple(
            (index, slot.convert)
            for index, slot in enumerate(self.slots)
            if slot.convert is not None
        )

    def convert(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """Result rows with each column converted as its type converts it."""
        make = self.row_type
        if not any(self.results):
            return [make(row) for row in rows]
        converters = self.results
        return [
            make(
                value if convert is None or value is None else convert(value)
                for value, convert in zip(row, converters, strict=True)
            )
            for row in rows
        ]


def _convert_parameter(bind_type: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """How a value bound to a parameter of this type is handed to SQLite."""
    if isinstance(bind_type, UTCDateTime):
        return _convert_datetime
    return bind_type.dialect_impl(dialect).bind_processor(dialect)


def plan_slots(compiled: Any, keys: Sequence[str], dialect: Dialect) -> tuple[Slot, ...]:
    """The positional parameters of a compiled statement, taken from `keys` of each row."""
    slots = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if bind.expanding:
            raise TypeError(f"{name}: IN lists have no fixed position")
        convert = _convert_parameter(bind.type, dialect)
        if bind.key in keys:
            slots.append(Slot(bind.key, None, convert))
        elif bind.required:
            raise KeyError(f"no value for {bind.key!r}")
        else:
            slots.append(Slot(None, bind.effective_value, convert))
    return tuple(slots)


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _plan_statement(statement: Statement, keys: tuple[str, ...], dialect: Dialect) -> SqlitePlan:
    compiled = statement.compile(dialect=dialect)
    columns = list(statement.exported_columns)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    row_type = namedtuple("Row", [column.key for column in columns], rename=True)  # type: ignore[misc]
    return SqlitePlan(str(compiled), plan_slots(compiled, keys, dialect), results, row_type._make)


def raw_sqlite_connection(conn: AsyncConnection) -> sqlite3.Connection:
    """The sqlite3 connection under a started SQLAlchemy connection (its transaction's)."""
    raw = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    assert isinstance(raw, sqlite3.Connection)
    return raw


async def fetch_rows(
    conn: AsyncConnection, statement: Statement, parameters: Mapping[str, Any]
) -> list[Any]:
    """Run one statement with its named parameters in the caller's transaction; its rows.

    Each row is a tuple in the statement's column order whose columns can also be read by
    name, like SQLAlchemy's own rows.
    """
    if conn.dialect.name != "sqlite":
        result = await conn.execute(statement, dict(parameters))
        return list(result) if result.returns_rows else []
    plan = _plan_statement(statement, tuple(sorted(parameters)), conn.dialect)
    cursor = sqlite3.Cursor(raw_sqlite_connection(conn))
    try:
        rows = cursor.execute(plan.sql, plan.bind(parameters)).fetchall()
    finally:
        cursor.close()
    return plan.convert(rows)


async def fetch_one(
    conn: AsyncConnection, statement: Statement, parameters: Mapping[str, Any]
) -> Any | None:
    """The first row of fetch_rows, or None when there is none."""
    rows = await fetch_rows(conn, statement, parameters)
    return rows[0] if rows else None


def in_list(name: str) -> list[BindParameter[Any]]:
    """The places of an IN list named `name`, for a statement run by fetch_rows_in."""
    return [bindparam(f"{name}_{i}") for i in range(IN_LIST_SIZE)]


async def fetch_rows_in(
    conn: AsyncConnection,
    statement: Statement,
    name: str,
    values: Sequence[Any],
    parameters: Mapping[str, Any] | None = None,
) -> list[Any]:
    """fetch_rows once per chunk of `values` for the statement's `in_list(name)`; all rows.

    Each value is looked for once, however often it is given, and the places a short chunk
    fills by repeating one of its values match nothing more. Rows come chunk by chunk, so an
    ORDER BY orders each chunk only.
    """
    values = list(dict.fromkeys(values))
    rows: list[Any] = []
    for start in range(0, len(values), IN_LIST_SIZE):
        chunk = list(values[start : start + IN_LIST_SIZE])
        chunk += [chunk[0]] * (IN_LIST_SIZE - len(chunk))
        places = {f"{name}_{i}": value for i, value in enumerate(chunk)}
        rows += await fetch_rows(conn, statement, {**(parameters or {}), **places})
    return rows
