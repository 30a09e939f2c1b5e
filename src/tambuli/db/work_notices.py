"""New work told across processes: LISTEN/NOTIFY on PostgreSQL, data_version on SQLite.

The database is the queue; these notices only say "look now" to workers in other processes,
so they wait for a notice instead of polling every fraction of a second. On PostgreSQL a
process that queued work calls `WorkAnnouncer.announce` after its commit; every worker process
holds one connection of its own that LISTENs (`listen_for_work`) and wakes the matching loops.
A lost notice costs only latency: workers still look at their poll interval, and look
everywhere again whenever their listening connection comes back. SQLite has no notices, but
any process can tell cheaply that another one committed (`watch_sqlite_commits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from enum import StrEnum
from urllib.parse import quote

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("tambuli.db.work_notices")

CHANNEL = "tambuli_work"
# At most one NOTIFY per this many seconds from one process: under load every request queues
# work, and one notice per moment wakes the workers as well as one per request would.
ANNOUNCE_GAP_SECONDS = 0.01
# After a failed connection, wait this long before trying again, doubling up to the cap.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
# A listening connection that sees no traffic is checked this often, so a silently dead
# link is noticed (a peer that closes the connection is noticed at once).
LISTEN_CHECK_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 5.0


class WorkKind(StrEnum):
    """What kind of work a notice announces (the NOTIFY payload)."""

    # Messages were queued for delivery.
    DELIVERY = "delivery"
    # Campaign runs were started or launched: steps may be due now.
    CAMPAIGNS = "campaigns"
    # Top-ups were queued.
    TOPUPS = "topups"
    # Receipts or inbound SMS were recorded: pushes and replies may be due now.
    EVENTS = "events"


def to_asyncpg_dsn(url: str) -> str:
    """The plain postgresql:// DSN asyncpg connects with, from a Tambuli database URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WorkAnnouncer:
    """Sends NOTIFYs for new work on a connection of its own, outside the request pool.

    `announce` never waits: it marks the kind pending and a background task sends the pending
    kinds, one statement at a time, so a burst of requests makes a handful of notices.
    """

    def __init__(self, url: str) -> None:
        self._dsn = to_asyncpg_dsn(url)
        self._pending: set[WorkKind] = set()
        self._sender: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._retry_at = 0.0
        self._retry_seconds = RECONNECT_FIRST_SECONDS
        self.notices_sent = 0

    def announce(self, kind: WorkKind) -> None:
        """Tell every listening worker that work of this kind was just committed."""
        self._pending.add(kind)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_pending())

    async def close(self) -> None:
        """Send what is pending, then close the connection."""
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def _send_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if loop.time() < self._retry_at:
                # The database was unreachable a moment ago; workers poll meanwhile.
                self._pending.clear()
                return
            kinds = sorted(self._pending)
            self._pending.clear()
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._dsn)
                await self._conn.execute(
                    "SELECT pg_notify($1, kind) FROM unnest($2::text[]) AS kind",
                    CHANNEL,
                    [k.value for k in kinds],
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(
                    "could not announce new work (%s); workers will find it by polling", exc
                )
                self._conn = None
                self._retry_at = loop.time() + self._retry_seconds
                self._retry_seconds = min(2 * self._retry_seconds, RECONNECT_MAX_SECONDS)
                return
            self._retry_seconds = RECONNECT_FIRST_SECONDS
            self.notices_sent += 1
            await asyncio.sleep(ANNOUNCE_GAP_SECONDS)


async def listen_for_work(
    url: str,
    stop: asyncio.Event,
    on_notice: Callable[[str], None],
    on_listening: Callable[[bool], None],
) -> None:
    """LISTEN until `stop` is set, calling `on_notice` with each notice's payload.

    `on_listening(True)` is called once the LISTEN is in place (then nothing committed after
    that moment can go unnoticed), `on_listening(False)` when the connection is lost; it is
    opened again after a pause that grows while the database stays unreachable.
    """
    dsn = to_asyncpg_dsn(url)
    pause = RECONNECT_FIRST_SECONDS
    while not stop.is_set():
        lost = asyncio.Event()
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn)
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: on_notice(payload))
            on_listening(True)
            pause = RECONNECT_FIRST_SECONDS
            await _hold_connection(conn, stop, lost)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            if not stop.is_set():
                log.warning("listening for new work failed (%s); polling until it is back", exc)
        except Exception:  # a background loop: whatever failed, poll meanwhile and try again
            log.exception("listening for new work failed; polling until it is back")
        finally:
            on_listening(False)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), CHECK_TIMEOUT_SECONDS)
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(2 * pause, RECONNECT_MAX_SECONDS)


async def _hold_connection(
    conn: asyncpg.Connection, stop: asyncio.Event, lost: asyncio.Event
) -> None:
    """Return when `stop` is set; raise when the connection is lost or stops answering."""
    while not stop.is_set():
        if conn.is_closed() or lost.is_set():
            raise asyncpg.InterfaceError("the listening connection was closed")
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=LISTEN_CHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if not stop.is_set() and not lost.is_set():
            await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)


async def watch_sqlite_commits(
    path: str, stop: asyncio.Event, on_commit: Callable[[], None], interval_seconds: float
) -> None:
    """Call `on_commit` when another connection has committed to the SQLite file since the
    last look, looking every `interval_seconds` until `stop` is set.

    `PRAGMA data_version` reads a counter in the shared memory of the write-ahead log: a few
    microseconds, no disk access, no lock waited for. It sees every other connection's
    commits, this process's own included (they use other connections).
    """
    # mode=rw: a file that is gone must not be made again, empty, by this connection.
    conn = sqlite3.connect(
        f"file:{quote(path)}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        last: int | None = None
        failing = False
        while not stop.is_set():
            try:
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                failing = False
            except sqlite3.Error as exc:  # the next look may succeed; polling covers the gap
                if not failing:
                    log.warning("could not read the data version of %s: %s", path, exc)
                failing = True
                version = None
            if version is not None and last is not None and version != last:
                on_commit()
            last = version if version is not None else last
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
    finally:
        conn.close()
