"""Per-key locks for find-or-create on PostgreSQL: a second holder waits for the first commit."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.engine import Database
from tambuli.db.key_locks import LOCKS_PER_KIND, KeyKind, lock_keys

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

NUMBER = "639171234567"
# Advisory locks taken with two int4 keys have objsubid 2 (one bigint key would be 1); each
# test has a database of its own, so every such lock is the test's.
ADVISORY_LOCKS = text(
    "SELECT l.pid, l.granted FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND d.datname = current_database()"
)


T = TypeVar("T")


def apart(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task that does not count as holding the caller's connection: these tests play several
    clients at once, which one task of the service never does (db/engine.py refuses it)."""
    return asyncio.create_task(work, context=contextvars.Context())


async def advisory_locks(db: Database) -> list[tuple[int, bool]]:
    """(backend pid, granted) of each advisory lock held or wanted in this database."""

    async def read() -> list[tuple[int, bool]]:
        async with db.read() as conn:
            return [(int(r[0]), bool(r[1])) for r in await conn.execute(ADVISORY_LOCKS)]

    return await apart(read())


async def backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def wait_until_blocked(db: Database, task: asyncio.Task[None]) -> bool:
    """Whether `task` came to wait for an advisory lock (True) or finished without (False)."""
    while not task.done():
        if any(not granted for _, granted in await advisory_locks(db)):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_second_transaction_locking_a_key_waits_until_the_first_commits(
    fresh_db: Database,
) -> None:
    first_done = asyncio.Event()

    async def second() -> None:
        async with fresh_db.write() as conn:
            await lock_keys(conn, KeyKind.CONTACT_PHONE, 7, [NUMBER])
            assert first_done.is_set(), "the second holder did not wait"

    async with fresh_db.write() as conn:
        await lock_keys(conn, KeyKind.CONTACT_PHONE, 7, [NUMBER])
        mine = await backend_pid(conn)
        waiting = apart(second())
        assert await wait_until_blocked(fresh_db, waiting)
        assert [pid for pid, granted in await advisory_locks(fresh_db) if granted] == [mine]
        first_done.set()
    await waiting
    assert await advisory_locks(fresh_db) == []


async def test_other_kinds_and_organizations_do_not_wait(fresh_db: Database) -> None:
    async def other(kind: KeyKind, org_id: int) -> None:
        async with fresh_db.write() as conn:
            await lock_keys(conn, kind, org_id, [NUMBER])

    async with fresh_db.write() as conn:
        await lock_keys(conn, KeyKind.CONTACT_PHONE, 7, [NUMBER])
        for kind, org_id in [(KeyKind.CUSTOM_FIELD_NAME, 7), (KeyKind.CONTACT_PHONE, 8)]:
            task = apart(other(kind, org_id))
            blocked = await wait_until_blocked(fresh_db, task)
            if blocked:
                task.cancel()
            assert not blocked, (kind, org_id)
            await task


async def test_a_batch_of_thousands_of_keys_takes_at_most_the_bounded_number_of_locks(
    fresh_db: Database,
) -> None:
    numbers = [f"6391712{i:05d}" for i in range(5000)]
    async with fresh_db.write() as conn:
        await lock_keys(conn, KeyKind.CONTACT_PHONE, 7, numbers)
        held = await advisory_locks(fresh_db)
    assert LOCKS_PER_KIND // 2 < len(held) <= LOCKS_PER_KIND
    assert await advisory_locks(fresh_db) == []
