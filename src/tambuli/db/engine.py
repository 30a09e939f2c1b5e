"""Engines and transactions for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from tambuli.db import sqlite_inline  # noqa: F401  (registers the sqlite+inline dialect)
from tambuli.db.storage_health import StorageHealth, is_disk_full
from tambuli.db.wal_checkpoints import AUTOCHECKPOINT_PAGES, WalCheckpoints
from tambuli.errors import ServerBusy
from tambuli.metrics import DB_COMMIT_SECONDS
from tambuli.settings import Settings

# Wait this long for another process's SQLite write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL pool defaults: the settings' own (TAMBULI_DB_POOL_SIZE, _OVERFLOW, _WAIT_SECONDS).
POOL_SIZE: int = Settings.db_pool_size
POOL_OVERFLOW: int = Settings.db_pool_overflow
POOL_WAIT_SECONDS: float = Settings.db_pool_wait_seconds
_READ_ONLY = "tambuli_read_only"
_NO_TRANSACTION = "tambuli_no_transaction"

# The Database whose connection the current task holds, if any (tasks it starts inherit it).
_HOLDING: ContextVar[Database | None] = ContextVar("tambuli_db_holding", default=None)


class NestedCheckout(RuntimeError):
    """A task that holds a connection asked the same Database for a second one."""


@contextmanager
def _hold(db: Database) -> Iterator[None]:
    # A task that holds a connection and waits for a second one waits on tasks that may do
    # the same: once as many such tasks are in flight as the pool has connections, all of
    # them wait until the pool's timeout (30 concurrent sends once starved a pool of 10 + 20
    # this way). Refusing every nested request, at any load, makes such a path fail in the
    # first test that reaches it instead of only under load; the check is one context
    # variable read per transaction.
    db.refuse_nested_wait()
    token = _HOLDING.set(db)
    try:
        yield
    finally:
        _HOLDING.reset(token)


def to_async_url(url: str) -> str:
    """Turn a plain sqlite:// or postgresql:// URL into the async driver's URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+inline").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _prepare_sqlite_connection(
    dbapi_connection: DBAPIConnection,
    _: ConnectionPoolEntry,
    *,
    checkpoints: WalCheckpoints | None,
) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if checkpoints is not None:
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        checkpoints.note_file_opened()
    cursor.close()
    # SQLite's own lower() folds ASCII only; searches must ignore case in every script, as
    # PostgreSQL's lower() does.
    dbapi_connection.create_function("lower", 1, _lower_text, deterministic=True)


def _lower_text(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _begin_sqlite_transaction(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock at the start, so a writer never fails halfway
    # when another writer got there first; read-only transactions do not need it.
    options = conn.get_execution_options()
    if options.get(_NO_TRANSACTION):
        return
    if options.get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _describe_database(url: str) -> str:
    """The database in words for the log, without its credentials."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the database file {parsed.database or ':memory:'}"
    return f"the PostgreSQL database {parsed.database} on {parsed.host or 'localhost'}"


def _sqlite_file(url: str) -> str | None:
    """The file of a sqlite:// URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


class Database:
    """An async engine plus the two ways Tambuli uses it: a write and a read transaction.

    With `checkpoint_in_background` (long-running processes), a file-backed SQLite database's
    write-ahead log is checkpointed by a thread of its own instead of inside commits
    (wal_checkpoints.py), which also notices the file being deleted or replaced.
    `storage` knows whether the database takes writes (storage_health.py).
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        checkpoint_in_background: bool = False,
        pool_size: int = POOL_SIZE,
        pool_overflow: int = POOL_OVERFLOW,
        pool_wait_seconds: float = POOL_WAIT_SECONDS,
    ) -> None:
        self.url = url
        async_url = to_async_url(url)
        self.dialect = make_url(async_url).get_backend_name()
        # Past this wait for a free connection, a request is answered 503 (ServerBusy).
        kwargs: dict[str, Any] = {"echo": echo, "pool_timeout": pool_wait_seconds}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_overflow, pool_pre_ping=False)
        else:
            # Every request in flight holds a connection across its awaits; a connection opened
            # past the pool size is closed again after use, and opening one (with its PRAGMAs)
            # cost more than the query at 64 concurrent requests. Idle ones cost little memory.
            kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=128, max_overflow=128)
        self.engine: AsyncEngine = create_async_engine(async_url, **kwargs)
        # SQLite has one writer; queueing writers here keeps them off SQLite's sleeping
        # busy handler, which would otherwise add tens of milliseconds under load.
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        # Write transactions begun by this process; benchmarks report commits per message.
        self.write_transactions = 0
        self._reader: AsyncConnection | None = None
        self.checkpoints: WalCheckpoints | None = None
        # The file of a file-backed SQLite database (None for PostgreSQL or in memory).
        self.sqlite_path = _sqlite_file(url) if self.dialect == "sqlite" else None
        self.storage = StorageHealth(_describe_database(url))
        # Every statement and commit that fails for want of space becomes StorageFull here,
        # wherever it runs (a savepoint of a group commit included).
        event.listen(self.engine.sync_engine, "handle_error", self._translate_disk_full)
        if self.dialect == "sqlite":
            path = self.sqlite_path if checkpoint_in_background else None
            if path is not None:
                self.checkpoints = WalCheckpoints(path, on_lost=self.storage.mark_lost)
                self.checkpoints.start()
            event.listen(
                self.engine.sync_engine,
                "connect",
                partial(_prepare_sqlite_connection, checkpoints=self.checkpoints),
            )
            event.listen(self.engine.sync_engine, "begin", _begin_sqlite_transaction)

    def refuse_nested_wait(self) -> None:
        """NestedCheckout if this task holds a connection of this Database.

        Also for code that waits on another task's connection (a shared cache load, a batch
        writer), which starves the pool the same way a second checkout does.
        """
        if _HOLDING.get() is self:
            raise NestedCheckout(
                "this task already holds a database connection; do the work on that one, "
                "or load what it needs before opening the transaction"
            )

    @property
    def is_sqlite(self) -> bool:
        """Whether this is SQLite (single writer, compare-and-set claims)."""
        return self.dialect == "sqlite"

    def _translate_disk_full(self, context: ExceptionContext) -> None:
        if is_disk_full(context.original_exception):
            raise self.storage.record_full() from context.original_exception

    def translate_storage_error(self, error: Exception) -> Exception:
        """StorageFull (counted) for a driver's disk-full error that bypassed SQLAlchemy
        (statements on the raw connection, db/statements.py); any other error as it is."""
        if is_disk_full(error):
            return self.storage.record_full()
        return error

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on success, rolled back on any exception.

        StorageLost at once when the database file was deleted or replaced.
        """
        self.storage.refuse_if_lost()
        with _hold(self):
            self.write_transactions += 1
            try:
                if self._write_lock is None:
                    async with self._connection() as conn, conn.begin():
                        yield conn
                        committing = time.perf_counter()  # the commit happens as this ends
                else:
                    async with self._write_lock, self._connection() as conn, conn.begin():
                        yield conn
                        committing = time.perf_counter()
            except Exception as exc:
                translated = self.translate_storage_error(exc)
                if translated is exc:
                    raise
                raise translated from exc
        DB_COMMIT_SECONDS.observe(time.perf_counter() - committing)
        self.storage.record_write()

    async def check_writable(self) -> None:
        """Raise unless a write transaction can begin and commit now (the readiness probe)."""
        async with self.write() as conn:
            await conn.exec_driver_sql("SELECT 1")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One read-only transaction with a consistent view."""
        with _hold(self):
            async with self._connection() as raw:
                conn = await raw.execution_options(**{_READ_ONLY: True})
                async with conn.begin():
                    yield conn

    @asynccontextmanager
    async def read_single(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one read-only statement, with no transaction around it.

        A single statement sees a consistent snapshot by itself; skipping BEGIN and COMMIT
        saves two round trips on the hottest reads.
        """
        # SQLite's shared reader is no pool checkout, but the same code runs on PostgreSQL.
        with _hold(self):
            if self.dialect == "sqlite":
                yield await self._shared_sqlite_reader()
                return
            async with self._connection() as raw:
                conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
                yield conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection from the pool, returned to it afterwards; ServerBusy if none comes."""
        try:
            conn = await self.engine.connect()
        except sa_exc.TimeoutError as exc:
            # Every connection stayed in use for the whole wait: tell the client to come back
            # rather than keep it (and its socket) waiting.
            raise ServerBusy() from exc
        try:
            yield conn
        finally:
            await conn.close()

    async def _shared_sqlite_reader(self) -> AsyncConnection:
        # Checking a connection out of the pool cost more than the lookup itself (about 60 of
        # 160 µs here). SQLite statements run to completion on the loop thread without
        # yielding (sqlite_inline.py), so one autocommit connection can serve every
        # single-statement read of the process, one after another.
        if self._reader is None or self._reader.closed:
            raw = await self.engine.connect()
            self._reader = await raw.execution_options(**{_NO_TRANSACTION: True})
        return self._reader

    async def dispose(self) -> None:
        """Close every pooled connection (and stop checkpointing, after a last checkpoint)."""
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self.engine.dispose()
        if self.checkpoints is not None:
            self.checkpoints.stop()
