"""Group commit: concurrent contact creates share commits, and each succeeds or fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput
from tambuli.db.engine import Database
from tambuli.db.group_commit import GroupCommit
from tambuli.db.schema import contacts as contacts_table
from tambuli.errors import Overloaded, UnknownGroup
from tambuli.organizations import service as organizations


async def _org(db: Database, clock: FakeClock) -> int:
    return (await organizations.create_organization(db, clock, "Group commit")).org_id


async def _count(db: Database, org_id: int) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(contacts_table.c.org_id == org_id)
        return int((await conn.execute(query)).scalar_one())


async def test_concurrent_creates_share_commits_and_each_gets_its_contact(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = await _org(fresh_db, clock)
    commits = GroupCommit(fresh_db)
    before = fresh_db.write_transactions
    made = await asyncio.gather(
        *(
            contacts.create_contact(
                fresh_db,
                clock,
                org,
                phones.normalise_full_number(f"6391712{i:05d}"),
                ContactInput(first_name=f"P{i}"),
                commits,
            )
            for i in range(30)
        )
    )
    assert [c.first_name for c in made] == [f"P{i}" for i in range(30)]
    assert len({c.id for c in made}) == 30
    assert fresh_db.write_transactions - before <= 3
    assert await _count(fresh_db, org) == 30


async def test_a_failing_create_fails_alone_and_its_batch_mates_are_kept(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = await _org(fresh_db, clock)
    commits = GroupCommit(fresh_db)
    phone = phones.normalise_full_number("639171234567")
    results = await asyncio.gather(
        contacts.create_contact(fresh_db, clock, org, phone, ContactInput(), commits),
        contacts.create_contact(
            fresh_db, clock, org, phone, ContactInput(groups=[999_999]), commits
        ),
        contacts.create_contact(fresh_db, clock, org, phone, ContactInput(), commits),
        return_exceptions=True,
    )
    assert isinstance(results[0], Contact) and isinstance(results[2], Contact)
    assert isinstance(results[1], UnknownGroup)
    assert await _count(fresh_db, org) == 2


async def test_a_cancelled_caller_does_not_spoil_the_batch(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = await _org(fresh_db, clock)
    commits = GroupCommit(fresh_db)
    gate = asyncio.Event()

    async def create(i: int) -> Contact:
        async def insert(conn: object) -> Contact:
            await gate.wait()
            phone = phones.normalise_full_number(f"6391712{i:05d}")
            contact, _ = await contacts.find_or_create_contact_with_phone_within(
                conn,  # type: ignore[arg-type]
                clock,
                org,
                phone,
                ContactInput(),
            )
            return contact

        return await commits.run(insert)

    tasks = [asyncio.create_task(create(i)) for i in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    tasks[1].cancel()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], Contact) and isinstance(results[2], Contact)
    assert isinstance(results[1], asyncio.CancelledError)


@pytest.mark.parametrize("size", [1, 5])
async def test_a_batch_limit_splits_waiting_jobs_into_several_commits(
    fresh_db: Database, clock: FakeClock, size: int
) -> None:
    org = await _org(fresh_db, clock)
    commits = GroupCommit(fresh_db, max_batch=size)
    made = await asyncio.gather(
        *(
            contacts.create_contact(
                fresh_db,
                clock,
                org,
                phones.normalise_full_number(f"6391812{i:05d}"),
                ContactInput(),
                commits,
            )
            for i in range(10)
        )
    )
    assert len(made) == 10
    assert await _count(fresh_db, org) == 10


async def test_creates_beyond_the_waiting_bound_are_refused_as_overloaded(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = await _org(fresh_db, clock)
    commits = GroupCommit(fresh_db, max_waiting=2)
    phone = phones.normalise_full_number("639171234567")
    results = await asyncio.gather(
        *(
            contacts.create_contact(fresh_db, clock, org, phone, ContactInput(), commits)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    # The third arrives while two wait for the first batch: told to come back, nothing written.
    assert isinstance(results[0], Contact) and isinstance(results[1], Contact)
    assert isinstance(results[2], Overloaded)
    assert await _count(fresh_db, org) == 2
