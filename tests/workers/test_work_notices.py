"""Work queued by one process wakes the workers of another: NOTIFY on PostgreSQL, SQLite's
commit counter on SQLite.

Each side has a Database of its own (its own connections), as separate processes would, and
the worker's own poll comes only once an hour: nothing but a notice can make it look again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.work_notices import WorkAnnouncer, WorkKind, listen_for_work, to_asyncpg_dsn
from tambuli.messaging.models import MessageStatus
from tambuli.messaging.sending import SentMessage
from tambuli.services import build_services
from tambuli.settings import Settings
from tambuli.workers.runner import Workers
from tests.services.sms_world import SmsWorld
from tests.support.databases import migrated_database

AN_HOUR = 3600.0
# Generous: only a machine that stalls this long makes these tests fail.
PATIENCE_SECONDS = 30.0


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file of the test's own."""
    async with migrated_database("sqlite", tmp_path) as database:
        yield database


@pytest.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database of the test's own."""
    from tests.support.databases import postgres_url

    if postgres_url() is None:
        pytest.skip("postgres: TAMBULI_TEST_DATABASE_URL is not set")
    async with migrated_database("postgres", tmp_path) as database:
        yield database


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (without a timing assertion) until `condition` holds."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def terminate_listeners(db: Database) -> int:
    """End every backend that LISTENs (as a database restart or a dropped link would)."""
    conn = await asyncpg.connect(to_asyncpg_dsn(db.url))
    try:
        ended = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    finally:
        await conn.close()
    return len(ended)


@pytest.mark.postgres
async def test_a_notice_reaches_a_listener_on_another_connection(pg_db: Database) -> None:
    heard: list[str] = []
    states: list[bool] = []
    stop = asyncio.Event()
    listener = asyncio.create_task(listen_for_work(pg_db.url, stop, heard.append, states.append))
    announcer = WorkAnnouncer(pg_db.url)
    try:
        await wait_until(lambda: states == [True])
        announcer.announce(WorkKind.DELIVERY)
        announcer.announce(WorkKind.TOPUPS)
        await wait_until(lambda: set(heard) == {"delivery", "topups"})

        assert await terminate_listeners(pg_db) == 1
        await wait_until(lambda: states == [True, False, True])
        heard.clear()
        announcer.announce(WorkKind.CAMPAIGNS)
        await wait_until(lambda: heard == ["campaigns"])
    finally:
        stop.set()
        await listener
        await announcer.close()


@pytest.mark.postgres
async def test_a_send_in_one_process_wakes_the_worker_of_another(pg_db: Database) -> None:
    clock = FakeClock()
    api = SmsWorld(pg_db, clock)
    org = await api.new_org(balance_micro=10_000_000)
    worker_db = Database(pg_db.url)
    settings = Settings(
        database_url=pg_db.url, worker_poll_seconds=AN_HOUR, worker_idle_poll_seconds=2 * AN_HOUR
    )
    workers = Workers(build_services(worker_db, clock, settings))
    announcer = WorkAnnouncer(pg_db.url)
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))

    async def send_and_announce(number: str) -> None:
        sent = await api.send(org, number)
        announcer.announce(WorkKind.DELIVERY)
        await wait_for_hand_off(api, sent, running)

    try:
        # Once its LISTEN is in place the worker is told of new work and polls least often.
        await wait_until(lambda: workers.read_poll_seconds() == 2 * AN_HOUR)
        for i in range(3):
            await send_and_announce(f"63917123{i:03d}9")

        # A dropped listening connection comes back, and notices work again.
        assert await terminate_listeners(pg_db) == 1
        await wait_until(lambda: workers.read_poll_seconds() == 2 * AN_HOUR)
        for i in range(3, 6):
            await send_and_announce(f"63917123{i:03d}9")
    finally:
        stop.set()
        await running
        await announcer.close()
        await worker_db.dispose()


async def wait_for_hand_off(
    world: SmsWorld, sent: SentMessage, running: asyncio.Task[None]
) -> None:
    """Wait until the message left the queue; it must have been accepted."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
    while (await world.message(sent)).status == MessageStatus.QUEUED:
        assert not running.done()
        assert asyncio.get_running_loop().time() < deadline, "the worker never took it"
        await asyncio.sleep(0.01)
    assert (await world.message(sent)).status == MessageStatus.ACCEPTED


async def test_on_sqlite_a_send_in_another_process_wakes_a_worker_that_polls_hourly(
    sqlite_db: Database,
) -> None:
    clock = FakeClock()
    api = SmsWorld(sqlite_db, clock)
    org = await api.new_org(balance_micro=10_000_000)
    worker_db = Database(sqlite_db.url)
    # The commit counter is read every 50 ms; the worker's own look comes once an hour.
    settings = Settings(
        database_url=sqlite_db.url, worker_poll_seconds=0.05, worker_idle_poll_seconds=AN_HOUR
    )
    workers = Workers(build_services(worker_db, clock, settings))
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        await wait_until(lambda: workers.read_poll_seconds() == AN_HOUR)
        for i in range(3):
            await wait_for_hand_off(api, await api.send(org, f"63917124{i:03d}9"), running)
    finally:
        stop.set()
        await running
        await worker_db.dispose()


async def test_a_worker_that_polls_hourly_records_a_receipt_as_soon_as_it_is_due(
    fresh_db: Database,
) -> None:
    clock = FakeClock()
    api = SmsWorld(fresh_db, clock)
    org = await api.new_org(balance_micro=10_000_000)
    settings = Settings(
        database_url=fresh_db.url,
        worker_poll_seconds=AN_HOUR,
        worker_idle_poll_seconds=AN_HOUR,
        simulator_receipt_delay=0,
    )
    workers = Workers(build_services(fresh_db, clock, settings))
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        sent = await api.send(org, "639171250009")
        workers.wake_delivery()
        # The fake clock stands still: a receipt offered before its hand-off was recorded
        # would be put off to a moment that never comes.
        deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
        while (await api.message(sent)).receipt != "confirmed":
            assert not running.done()
            assert asyncio.get_running_loop().time() < deadline, "no receipt was recorded"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await running
