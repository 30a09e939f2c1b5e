"""SQLite for the async engine without a thread per connection.

aiosqlite hands every cursor call to a worker thread and back; a contact lookup made ~20 such
hops and capped one process near 400 requests/s here, most of it thread switching. SQLite
answers these queries in microseconds from the page cache, so running the standard driver
directly on the event loop is cheaper than any hand-off.

The cost: a statement waiting for another *process's* write lock blocks the event loop for up to
the busy timeout. Writers inside one process queue on an asyncio lock first (see engine.py), so
this only happens when two processes write to one SQLite file at the same moment (an operator's
CLI command next to a running server); many processes belong on PostgreSQL (docs/decisions.md,
"Running SQL").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import ConnectArgsType
from sqlalchemy.util import await_


async def _already_done() -> None:
    return None


def _pass_through_event_loop() -> None:
    # SQLAlchemy's AsyncConnection insists that executing a statement awaits something, to
    # catch synchronous drivers by mistake. Awaiting a finished coroutine satisfies it at the
    # cost of two greenlet switches and never yields to the event loop.
    await_(_already_done())


class InlineCursor(sqlite3.Cursor):
    """A sqlite3 cursor that satisfies SQLAlchemy's async execution contract."""

    def execute(self, sql: str, parameters: Any = (), /) -> InlineCursor:
        """Run one statement on the calling thread."""
        _pass_through_event_loop()
        super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> InlineCursor:
        """Run one statement for many parameter sets on the calling thread."""
        _pass_through_event_loop()
        super().executemany(sql, seq_of_parameters)
        return self

    async def _async_soft_close(self) -> None:
        # AsyncConnection calls this on async drivers' cursors; rows of a sqlite3 cursor stay
        # readable on this thread, so there is nothing to do.
        return None


class InlineConnection(sqlite3.Connection):
    """A sqlite3 connection whose cursors are InlineCursors."""

    def cursor(self, factory: Any = InlineCursor) -> Any:
        """A new InlineCursor."""
        return super().cursor(factory)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """The pysqlite dialect, usable from AsyncEngine, running on the calling thread."""

    driver = "inline"
    is_async = True
    supports_statement_cache = True

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        """pysqlite's arguments, plus the connection class that makes inline cursors."""
        args, options = super().create_connect_args(url)
        options["factory"] = InlineConnection
        # Every use stays on the event loop's thread; the check would only refuse the pool's
        # cleanup when the loop has gone.
        options["check_same_thread"] = False
        return args, options


registry.register("sqlite.inline", "tambuli.db.sqlite_inline", "InlineSQLiteDialect")
