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
result columns converted the same way. A statement built afresh for each call runs on
SQLAlchemy's path, whose compiled cache serves it better than compiling it here each time.

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
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import BindParameter, Executable, Table, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import CompoundSelect, Delete, Insert, Select, Update, visitors
from sqlalchemy.types import TypeEngine

from tambuli.db.types import UTCDateTime, format_sqlite_datetime

# The places an IN list is given on SQLite (SQLite takes up to 32,766 parameters).
IN_LIST_SIZES = (16, 64, 256, 1024, 4096)
Converter = Callable[[Any], Any]
# Plans kept, and statements remembered as seen once (a statement seen twice is a constant).
_PLAN_CACHE_SIZE = 512
_SEEN_SIZE = 1024
# A bind parameter named like a column of the table written gets this prefix (see _renamed).
_RENAMED_PREFIX = "_param_"

# The rows of a batch mostly share their times (the batch's "now"); each is formatted once.
_convert_datetime = lru_cache(maxsize=1024)(format_sqlite_datetime)


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


@dataclass(frozen=True)
class _Slot:
    """Where one positional parameter comes from: a row's key (and a place in its list), or a
    value fixed in the statement."""

    key: str | None
    constant: Any
    convert: Converter | None
    index: int | None = None


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for SQLite: its SQL, its parameters in order, its result converters."""

    sql: str
    slots: tuple[_Slot, ...]
    results: tuple[Converter | None, ...] = ()
    # Result rows are tuples that also name their columns, as SQLAlchemy's rows do.
    row_type: Callable[[Iterable[Any]], tuple[Any, ...]] = tuple
    # Whether rowcount is the number of rows returned (see _counts_returned).
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

    def convert(self, rows: list[tuple[Any, ...]]) -> Rows:
        """Result rows with each column converted as its type converts it."""
        make = self.row_type
        if not any(self.results):
            return Rows(map(make, rows))
        converters = self.results
        return Rows(
            make(
                value if convert is None or value is None else convert(value)
                for value, convert in zip(row, converters, strict=True)
            )
            for row in rows
        )


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
    forms: dict[tuple[Any, ...], _Plan | None] = field(default_factory=dict)


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


def _convert_parameter(bind_type: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """How a value bound to a parameter of this type is handed to SQLite."""
    if isinstance(bind_type, UTCDateTime):
        return _convert_datetime
    return bind_type.dialect_impl(dialect).bind_processor(dialect)


def _caller_key(name: str, renames: Mapping[str, str]) -> str:
    for caller, renamed in renames.items():
        if renamed == name:
            return caller
    return name


def _compile(
    prepared: _Prepared,
    keys: Sequence[str],
    sizes: tuple[int, ...],
    dialect: Dialect,
    many: bool,
) -> _Plan | None:
    """The statement compiled for SQLite; None when only SQLAlchemy's path can run it."""
    statement = prepared.statement
    bound = {prepared.renames.get(key, key) for key in keys}
    compiled = statement.compile(
        dialect=dialect,
        column_keys=sorted(bound) if isinstance(statement, _DML) else None,
        for_executemany=many,
    )
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Python-side column defaults are computed by SQLAlchemy's execution.
        return None
    sql = str(compiled)
    order = list(compiled.positiontup or ())
    places: dict[str, tuple[str, int]] = {}
    if prepared.lists:
        lists = [prepared.renames.get(name, name) for name in prepared.lists]
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
            slots.append(_Slot(_caller_key(list_name, prepared.renames), None, convert, index))
            continue
        bind = compiled.binds[name]
        convert = _convert_parameter(bind.type, dialect)
        if bind.key in bound:
            slots.append(_Slot(_caller_key(bind.key, prepared.renames), None, convert))
        elif bind.required:
            raise KeyError(f"no value for {bind.key!r}")
        else:
            slots.append(_Slot(None, bind.effective_value, convert))
    columns = list(statement.exported_columns)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    row_type = _row_type(tuple(column.key for column in columns))
    return _Plan(sql, tuple(slots), results, row_type, _counts_returned(statement))


def _counts_returned(statement: Any) -> bool:
    """Whether the statement's rowcount is its number of rows: an INSERT, UPDATE or DELETE …
    RETURNING returns a row per row it changed, and sqlite3 counts them only once the
    statement is reset."""
    return isinstance(statement, (Insert, Update, Delete)) and bool(statement._returning)


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _row_type(names: tuple[str, ...]) -> Callable[[Iterable[Any]], tuple[Any, ...]]:
    base = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    row = type("Row", (base,), {"__slots__": (), "_mapping": property(base._asdict)})
    return row._make  # type: ignore[no-any-return,attr-defined]


def _in_list_size(length: int) -> int | None:
    for size in IN_LIST_SIZES:
        if length <= size:
            return size
    return None


def _plan_for(
    prepared: _Prepared, parameters: Mapping[str, Any], dialect: Dialect, many: bool
) -> tuple[_Plan, Mapping[str, Any]] | None:
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
        plan = prepared.forms[form_key] = _compile(
            prepared, sorted(parameters), sizes, dialect, many
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
    counted = result.returns_rows and _counts_returned(prepared.statement)
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
    return _counted(plan.convert(rows), rowcount)


async def execute_many(
    conn: AsyncConnection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> Rows:
    """Run an INSERT or UPDATE once per row (all with the same keys) in the caller's
    transaction; the rows an INSERT … RETURNING gives, in the rows' order, and the rowcount
    (-1 on PostgreSQL: asyncpg does not count an executemany's rows).

    Write `.returning(table.c.id, sort_by_parameter_order=True)` for the new IDs: on SQLite
    that runs on the fast path; any other RETURNING runs on SQLAlchemy's.
    """
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
    row_type = _row_type(("id",))
    new_ids = _new_ids(raw, statement.table, len(rows), dialect)
    return _counted(Rows(row_type((i,)) for i in new_ids), rowcount)


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
    # The new IDs are read back from SQLite's rowids (_new_ids); SQLAlchemy has no public way
    # to drop a RETURNING clause.
    plain = statement._generate()
    plain._returning = ()
    return plain


@lru_cache(maxsize=_PLAN_CACHE_SIZE)
def _count_ids_between(table: Table, dialect: Dialect) -> str:
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.id.between(bindparam("first"), bindparam("last")))
    )
    return str(query.compile(dialect=dialect))


def _new_ids(raw: sqlite3.Connection, table: Any, count: int, dialect: Dialect) -> range:
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
