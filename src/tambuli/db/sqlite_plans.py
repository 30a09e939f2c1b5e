"""Statements compiled once for SQLite's own cursor (used by db/statements.py).

A plan is a statement's SQL for SQLite, where each positional parameter comes from (a row's
key, a place in an IN list, or a value fixed in the statement), the converters of the column
types for parameters and results, and the row type its rows are read as.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Delete, Insert, Update
from sqlalchemy.types import TypeEngine

from tambuli.db.types import UTCDateTime, format_sqlite_datetime

Converter = Callable[[Any], Any]
# Row types and ID counts are kept per column names and per table.
_CACHE_SIZE = 512

# The rows of a batch mostly share their times (the batch's "now"); each is formatted once.
_convert_datetime = lru_cache(maxsize=1024)(format_sqlite_datetime)


@dataclass(frozen=True)
class Slot:
    """Where one positional parameter comes from: a row's key (and a place in its list), or a
    value fixed in the statement."""

    key: str | None
    constant: Any
    convert: Converter | None
    index: int | None = None


@dataclass(frozen=True)
class SqlitePlan:
    """A statement compiled for SQLite: its SQL, its parameters in order, its result converters."""

    sql: str
    slots: tuple[Slot, ...]
    results: tuple[Converter | None, ...] = ()
    # Result rows are tuples that also name their columns, as SQLAlchemy's rows do.
    row_type: Callable[[Iterable[Any]], tuple[Any, ...]] = tuple
    # Whether rowcount is the number of rows returned (see counts_returned).
    counts_returned: bool = False

    def bind(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's parameters in statement order, converted as the column types convert them."""
        values = [
            constant if key is None else row[key] if index is None else row[key][index]
            for key, constant, index in self._sources
        ]
        # Only the few parameters whose type converts anything are visited: a batch binds
        # hundreds of rows.
        for index, convert in self._conversions:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        return tuple(values)

    @cached_property
    def _sources(self) -> tuple[tuple[str | None, Any, int | None], ...]:
        return tuple((slot.key, slot.constant, slot.index) for slot in self.slots)

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
            return list(map(make, rows))
        converters = self.results
        return list(
            make(
                value if convert is None or value is None else convert(value)
                for value, convert in zip(row, converters, strict=True)
            )
            for row in rows
        )


def _convert_parameter(bind_type: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """How a value bound to a parameter of this type is handed to SQLite."""
    if isinstance(bind_type, UTCDateTime):
        return _convert_datetime
    return bind_type.dialect_impl(dialect).bind_processor(dialect)


def _caller_key(name: str, renames: Mapping[str, str]) -> str:
    """The caller's name of a parameter the statement may have renamed."""
    for caller, renamed in renames.items():
        if renamed == name:
            return caller
    return name


def compile_plan(
    statement: Any,
    renames: Mapping[str, str],
    in_lists: tuple[str, ...],
    keys: Sequence[str],
    sizes: tuple[int, ...],
    dialect: Dialect,
    many: bool,
) -> SqlitePlan | None:
    """The statement compiled for SQLite, bound from rows with `keys`, its IN lists `in_lists`
    (callers' names) given `sizes` places each; None when only SQLAlchemy's path can run it.

    `renames` maps a caller's parameter name to the name it has in the statement.
    """
    bound = {renames.get(key, key) for key in keys}
    compiled = statement.compile(
        dialect=dialect,
        column_keys=sorted(bound) if isinstance(statement, (Insert, Update)) else None,
        for_executemany=many,
    )
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Python-side column defaults are computed by SQLAlchemy's execution.
        return None
    sql = str(compiled)
    order = list(compiled.positiontup or ())
    places: dict[str, tuple[str, int]] = {}
    if in_lists:
        lists = [renames.get(name, name) for name in in_lists]
        # Only the shape counts: every other parameter is given a stand-in value.
        values: dict[str, Any] = {bind.key: None for bind in compiled.binds.values()}
        values.update({name: [0] * size for name, size in zip(lists, sizes, strict=True)})
        expanded = compiled.construct_expanded_state(values, escape_names=False)
        sql, order = expanded.statement, list(expanded.positiontup or ())
        for name, pieces in expanded.parameter_expansion.items():
            places.update({piece: (name, index) for index, piece in enumerate(pieces)})
    slots = []
    for name in order:
        if name in places:
            list_name, index = places[name]
            bind = compiled.binds[list_name]
            convert = _convert_parameter(bind.type, dialect)
            slots.append(Slot(_caller_key(list_name, renames), None, convert, index))
            continue
        bind = compiled.binds[name]
        convert = _convert_parameter(bind.type, dialect)
        if bind.key in bound:
            slots.append(Slot(_caller_key(bind.key, renames), None, convert))
        elif bind.required:
            raise KeyError(f"no value for {bind.key!r}")
        else:
            slots.append(Slot(None, bind.effective_value, convert))
    columns = list(statement.exported_columns)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    make_row = row_type(tuple(column.key for column in columns))
    return SqlitePlan(sql, tuple(slots), results, make_row, counts_returned(statement))


def counts_returned(statement: Any) -> bool:
    """Whether the statement's rowcount is its number of rows: an INSERT, UPDATE or DELETE …
    RETURNING returns a row per row it changed, and sqlite3 counts them only once the
    statement is reset."""
    return isinstance(statement, (Insert, Update, Delete)) and bool(statement._returning)


@lru_cache(maxsize=_CACHE_SIZE)
def row_type(names: tuple[str, ...]) -> Callable[[Iterable[Any]], tuple[Any, ...]]:
    """A row maker: tuples whose columns read by name too, and as a dict through `_mapping`."""
    base = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    row = type("Row", (base,), {"__slots__": (), "_mapping": property(base._asdict)})
    return row._make  # type: ignore[no-any-return,attr-defined]


@lru_cache(maxsize=_CACHE_SIZE)
def _count_ids_between(table: Table, dialect: Dialect) -> str:
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.id.between(bindparam("first"), bindparam("last")))
    )
    return str(query.compile(dialect=dialect))


def read_new_ids(raw: sqlite3.Connection, table: Any, count: int, dialect: Dialect) -> range:
    """The IDs of the `count` rows the connection's last executemany inserted into `table`."""
    cursor = sqlite3.Cursor(raw)
    try:
        last = int(cursor.execute("SELECT last_insert_rowid()").fetchone()[0])
        first = last - count + 1
        # The write transaction holds SQLite's only write lock, and a new rowid is one more than
        # the largest, so one executemany's rows are numbered first..last. SQLite numbers at
        # random only once an ID reaches 2**63 - 1; the count makes sure that never went unseen.
        found = cursor.execute(_count_ids_between(table, dialect), (first, last)).fetchone()[0]
    finally:
        cursor.close()
    if found != count:
        raise RuntimeError(f"{table.name}: the new rows are not numbered {first}..{last}")
    return range(first, last + 1)
