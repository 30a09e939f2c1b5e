"""Single-statement reads (one shared connection on SQLite) see every committed write."""

from __future__ import annotations

import asyncio

from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations


async def test_concurrent_lookups_and_updates_never_see_stale_or_mixed_rows(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = (await organizations.create_organization(fresh_db, clock, "Reads")).org_id
    phone = phones.normalise_full_number("639171234567")
    made = [
        await contacts.create_contact(fresh_db, clock, org, phone, ContactInput(first_name="v0"))
        for _ in range(5)
    ]

    async def update_all(version: int) -> None:
        for contact in made:
            await contacts.update_contact(
                fresh_db, clock, org, contact.id, ContactInput(first_name=f"v{version}"), None
            )

    async def read_all() -> list[str]:
        found = await asyncio.gather(*(contacts.get_contact(fresh_db, org, c.id) for c in made))
        return [c.first_name for c in found]

    for version in range(1, 6):
        readers = [asyncio.create_task(read_all()) for _ in range(5)]
        await update_all(version)
        for names in await asyncio.gather(*readers):
            assert all(name in (f"v{version - 1}", f"v{version}") for name in names), names
        # Once the update has committed, every lookup sees it.
        assert await read_all() == [f"v{version}"] * 5


async def test_lookups_work_again_after_the_database_is_closed_and_reopened(
    fresh_db: Database, clock: FakeClock
) -> None:
    org = (await organizations.create_organization(fresh_db, clock, "Reopen")).org_id
    phone = phones.normalise_full_number("639171234567")
    contact = await contacts.create_contact(fresh_db, clock, org, phone, ContactInput())
    assert (await contacts.get_contact(fresh_db, org, contact.id)).id == contact.id
    await fresh_db.dispose()
    assert (await contacts.get_contact(fresh_db, org, contact.id)).id == contact.id
