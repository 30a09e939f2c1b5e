"""Running SQL: the one pair of functions every store runs its statements with.

`execute` runs a statement with one set of parameters and returns its rows; `execute_many`
runs an INSERT or UPDATE once per row (and returns the new IDs of an INSERT … RETURNING id).
Callers write ordinary SQLAlchemy statements, with bind parameters named as they like and IN
lists as expanding parameters (`column.in_(bindparam("ids", expanding=True))`).

PostgreSQL runs them on SQLAlchemy's own path. On SQLite a statement used more than once (a
module constant) runs on the driver's own cursor instead: executing even an already compiled
statement through SQLAlchemy's async Core cost about 100 µs of CPU here (greenlet switches,
parameter and result processing, result objects), and an executemany 20 to 60 µs a row, where
SQLite answers the one-row balance update of a batch in about 6 µs. Such a statement is
compiled once, its parameters bound by position with the column types' own converters, and its
result columns converted the same way (sqlite_plans.py). A statement built afresh for each
call runs on SQLAlchemy's path, whose compiled cache serves it better than compiling it here
each time.

The fast path's rules stay in here:
- SQLAlchemy reserves column names for its own parameters in INSERT and UPDATE; a bind
  parameter named like a column of the table written is renamed before compiling.
- An IN list is given as many places as the next of a few fixed sizes, filled by repeating a
  value, so each statement has a few compiled forms rather than one per length. An empty list,
  or one longer than the largest size, runs on SQLAlchemy's path.

Each statement runs in the caller's transaction: the raw cursor belongs to the same connection,
and SQLite statements never yield the event loop (see sqlite_inline.py). The pair returns
whole results; a read too large to hold would stream with SQLAlchemy's `AsyncConnection.stream`
(none does today: CSV exports read in pages).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Executable, Table, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import CompoundSelect, Delete, Insert, Select, Update, visitors

from tambuli.db.sqlite_plans import (
    SqlitePlan,
    compile_plan,
    counts_returned,
    read_new_ids,
    row_type,
)

# The places an IN list is given on SQLite (SQLite takes up to 32,766 parameters).
IN_LIST_SIZES = (16, 64, 256, 1024, 4096)
# Plans kept, and statements remembered as seen once (a statement seen twice is a constant).
_PLAN_CACHE_SIZE = 512
_SEEN_SIZE = 1024
# A bind parameter named like a column of the table written gets this prefix (see _renamed).
_RENAMED_PREFIX = "_param_"


class Rows(list[Any]):
    """A statement's rows, read as SQLAlchemy's Result is read, and how many rows it changed.

    Each row is a tuple in the statement's column order whose columns can also be read by
    name (and as a dict through `_mapping`), like SQLAlchemy's own rows.
    """

    # Rows changed by an INSERT, UPDATE or DELETE; -1 when unknown (a SELECT).
    rowcount: int = -1

    def all(self) -> list[Any]:
        """Every row."""
        return list(self)

    def first(self) -> Any | None:
        """The first row, or None when there is none."""
        return self[0] if self else None

    def one_or_none(self) -> Any | None:
        """The only row, None when there is none; MultipleResultsFound when there are more."""
        if len(self) > 1:
            raise MultipleResultsFound("more than one row where one was expected")
        return self.first()

    def one(self) -> Any:
        """The only row; NoResultFound or MultipleResultsFound otherwise."""
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("no row where one was expected")
        return row

    def scalars(self) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self]

    def scalar(self) -> Any | None:
        """The first column of the first row, or None when there is no row."""
        return self[0][0] if self else None

    def scalar_one_or_none(self) -> Any | None:
        """The first column of the only row, or None when there is no row."""
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        """The first column of the only row; NoResultFound or MultipleResultsFound otherwise."""
        return self.one()[0]


@dataclass
class _Prepared:
    """A statement as it is compiled here: renamed, with its IN lists and compiled forms."""

    statement: Any
    # The caller's name of each renamed bind parameter, and the name it was given.
    renames: dict[str, str]
    # Caller names of the expanding parameters (IN lists); empty when there are none.
    lists: tuple[str, ...]
    # Whether the fast path can run it at all (it cannot run literal IN lists and the like).
    plannable: bool
    # The compiled forms: one per tuple of IN-list sizes (the empty tuple without lists).
    forms: dict[tuple[Any, ...], SqlitePlan | None] = field(default_factory=dict)


_DML = (Insert, Update)
_PLANNABLE = (Select, CompoundSelect, Insert, Update, Delete)
_prepared: dict[Any, _Prepared] = {}
_seen: dict[Any, None] = {}


def _written_table(statement: Any) -> Table | None:
    """The table an INSERT or UPDATE writes, if the statement is one."""
    if isinstance(statement, _DML) and isinstance(statement.table, Table):
        return statement.table
    return None


def _clashing_names(statement: Any) -> set[str]:
    """Bind parameters named like a column of the table an INSERT or UPDATE writes."""
    table = _written_table(statement)
    if table is None:
        return set()
    key = statement._generate_cache_key()  # memoized on the statement; SQLAlchemy needs it too
    binds = key.bindparams if key is not None else ()
    return {b.key for b in binds if not b.unique and b.key in table.c}


def _renamed(statement: Any, names: set[str]) -> Any:
    """The statement with its bind parameters in `names` renamed (see _RENAMED_PREFIX)."""

    def rename(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and not element.unique and element.key in names:
            return bindparam(
                _RENAMED_PREFIX + element.key,
                element.value,
                type_=element.type,
                required=element.required,
                expanding=element.expanding,
            )
        return None

    return visitors.replacement_traverse(statement, {}, rename)


def _prepare(statement: Any) -> _Prepared:
    names = _clashing_names(statement)
    renamed = _renamed(statement, names) if names else statement
    key = renamed._generate_cache_key() if isinstance(renamed, _PLANNABLE) else None
    binds = key.bindparams if key is not None else ()
    lists = tuple(
        sorted({b.key for b in binds if b.expanding and not b.unique and b.value is None})
    )
    plannable = key is not None and not any(
        (b.expanding and (b.unique or b.value is not None)) or b.literal_execute for b in binds
    )
    renames = {name: _RENAMED_PREFIX + name for name in names}
    caller_lists = tuple(
        name[len(_RENAMED_PREFIX) :] if name.startswith(_RENAMED_PREFIX) else name for name in lists
    )
    return _Prepared(renamed, renames, caller_lists, plannable)


def _prepared_for(statement: Any, remember: bool) -> _Prepared:
    """The prepared statement, kept when `remember` (it is seen again)."""
    found = _prepared.get(statement)
    if found is not None:
        return found
    prepared = _prepare(statement)
    if remember:
        if len(_prepared) >= _PLAN_CACHE_SIZE:
            del _prepared[next(iter(_prepared))]
        _prepared[statement] = prepared
    return prepared


def _look_up(statement: Any) -> tuple[_Prepared, bool]:
    """The prepared statement, and whether it ran before: a statement run twice is worth
    compiling here."""
    prepared = _prepared.get(statement)
    if prepared is not None:
        return prepared, True
    seen = statement in _seen
    if seen:
        del _seen[statement]
    else:
        if len(_seen) >= _SEEN_SIZE:
            del _seen[next(iter(_seen))]
        _seen[statement] = None
    return _prepared_for(statement, remember=seen), seen


def _in_list_size(length: int) -> int | None:
    for size in IN_LIST_SIZES:
        if length <= size:
            return size
    return None


def _plan_for(
    prepared: _Prepared, parameters: Mapping[str, Any], dialect: Dialect, many: bool
) -> tuple[SqlitePlan, Mapping[str, Any]] | None:
    """The compiled form for these parameters and the parameters it binds; None when the fast
    path cannot run them."""
    if not prepared.plannable:
        return None
    sizes: tuple[int, ...] = ()
    if prepared.lists:
        if many:
            raise TypeError("an IN list cannot be bound once per row")
        filled = dict(parameters)
        found = []
        for name in prepared.lists:
            values = list(dict.fromkeys(parameters[name]))
            size = _in_list_size(len(values)) if values else None
            if size is None:
                return None
            filled[name] = values + [values[-1]] * (size - len(values))
            found.append(size)
        parameters, sizes = filled, tuple(found)
    # The keys in the caller's order: one call site gives them in one order, and sorting them
    # cost more than the rest of this lookup.
    form_key = (*sizes, *parameters, many, id(dialect))
    if form_key in prepared.forms:
        plan = prepared.forms[form_key]
    else:
        plan = prepared.forms[form_key] = compile_plan(
            prepared.statement,
            prepared.renames,
            prepared.lists,
            sorted(parameters),
            sizes,
            dialect,
            many,
        )
    return None if plan is None else (plan, parameters)


def _sqlite_transaction(conn: AsyncConnection) -> tuple[sqlite3.Connection, Dialect] | None:
    """The sqlite3 connection under a SQLAlchemy connection in a transaction, and its dialect;
    None on PostgreSQL or outside a transaction (which SQLAlchemy begins on its own, and the
    raw cursor would not)."""
    sync = conn.sync_connection
    if sync is None or sync.dialect.name != "sqlite" or not sync.in_transaction():
        return None
    raw = sync.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw, sync.dialect


async def _execute_by_sqlalchemy(
    conn: AsyncConnection, prepared: _Prepared, parameters: Any
) -> Rows:
    renames = prepared.renames
    if renames:
        if isinstance(parameters, list):
            parameters = [{renames.get(k, k): v for k, v in row.items()} for row in parameters]
        else:
            parameters = {renames.get(k, k): v for k, v in parameters.items()}
    result = await conn.execute(prepared.statement, parameters)
    rows = Rows(result if result.returns_rows else ())
    counted = result.returns_rows and counts_returned(prepared.statement)
    return _counted(rows, len(rows) if counted else result.rowcount)


async def execute(
    conn: AsyncConnection, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> Rows:
    """Run one statement with its named parameters in the caller's transaction; its rows."""
    parameters = parameters or {}
    prepared, seen = _look_up(statement)
    sqlite = _sqlite_transaction(conn) if seen else None
    found = None if sqlite is None else _plan_for(prepared, parameters, sqlite[1], many=False)
    if sqlite is None or found is None:
        return await _execute_by_sqlalchemy(conn, prepared, dict(parameters))
    plan, bound = found
    cursor = sqlite3.Cursor(sqlite[0])
    try:
        rows = cursor.execute(plan.sql, plan.bind(bound)).fetchall()
        rowcount = len(rows) if plan.counts_returned else cursor.rowcount
    finally:
        cursor.close()
    return _counted(Rows(plan.convert(rows)), rowcount)


async def execute_many(
    conn: AsyncConnection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> Rows:
    """Run an INSERT or UPDATE once per row (all with the same keys) in the caller's
    transaction; the rows an INSERT … RETURNING gives, in the rows' order, and the rowcount
    (-1 on PostgreSQL: asyncpg does not count an executemany's rows).

    Write `.returning(table.c.id, sort_by_parameter_order=True)` for the new IDs: on SQLite
    that runs on the fast path; any other RETURNING runs on SQLAlchemy's.
    """
    if not isinstance(statement, Insert | Update):
        # Refused the same way on both paths (SQLAlchemy would run a SELECT once per row).
        raise TypeError(f"execute_many runs INSERT or UPDATE, not {type(statement).__name__}")
    if not rows:
        return _counted(Rows(), 0)
    prepared, seen = _look_up(statement)
    returning = isinstance(statement, Insert) and bool(statement._returning)
    sqlite = _sqlite_transaction(conn) if seen else None
    found = None
    if sqlite is not None and (not returning or _returns_id(statement)):
        # The new IDs are read back from the rowids; the executemany itself returns nothing.
        plain = _without_returning(statement) if returning else statement
        found = _plan_for(_prepared_for(plain, remember=True), rows[0], sqlite[1], many=True)
    if sqlite is None or found is None:
        return await _execute_by_sqlalchemy(conn, prepared, [dict(row) for row in rows])
    raw, dialect = sqlite
    plan = found[0]
    parameters = [plan.bind(row) for row in rows]
    # A plain cursor: the connection's own (sqlite_inline.InlineCursor) expects to be called
    # from SQLAlchemy's execution.
    cursor = sqlite3.Cursor(raw)
    try:
        cursor.executemany(plan.sql, parameters)
        rowcount = cursor.rowcount
    finally:
        cursor.close()
    if not returning:
        return _counted(Rows(), rowcount)
    make_row = row_type(("id",))
    new_ids = read_new_ids(raw, statement.table, len(rows), dialect)
    return _counted(Rows(make_row((i,)) for i in new_ids), rowcount)


def _counted(rows: Rows, rowcount: int) -> Rows:
    rows.rowcount = rowcount
    return rows


def _returns_id(statement: Any) -> bool:
    table = statement.table
    returning = list(statement._returning)
    return (
        isinstance(table, Table)
        and "id" in table.c
        and len(returning) == 1
        and returning[0] is table.c.id
    )


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _without_returning(statement: Insert) -> Insert:
    # The new IDs are read back from SQLite's rowids (read_new_ids); SQLAlchemy has no public way
    # to drop a RETURNING clause.
    plain = statement._generate()
    plain._returning = ()
    return plain
