"""The hot paths' caches: requests that find an entry stale at once share one database read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.pricing import PriceBook, set_price
from tambuli.organizations import service as organizations
from tambuli.organizations.profile import ProfileCache, update_profile


@contextmanager
def count_statements(db: Database, table: str) -> Iterator[list[str]]:
    """The SQL statements run on the database that read `table`, while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if f"FROM {table}" in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_concurrent_price_lookups_on_a_stale_book_read_the_prices_once(
    fresh_db: Database, clock: FakeClock
) -> None:
    await set_price(fresh_db, clock, "PH", "63917", 11_000)
    book = PriceBook(fresh_db, cache_seconds=0)
    with count_statements(fresh_db, "prices") as reads:
        found = await asyncio.gather(*(book.price_for("PH", f"6391712{i:05d}") for i in range(40)))
    assert found == [11_000] * 40
    assert len(reads) == 1


async def test_a_price_set_later_is_seen_once_the_book_is_stale(
    fresh_db: Database, clock: FakeClock
) -> None:
    book = PriceBook(fresh_db, cache_seconds=0)
    before = await book.price_for("PH", "639171200001")
    await set_price(fresh_db, clock, "PH", "", 17_000)
    assert before != 17_000
    assert await book.price_for("PH", "639171200001") == 17_000


async def test_concurrent_profile_reads_of_one_org_read_it_once(
    fresh_db: Database, clock: FakeClock
) -> None:
    first = (await organizations.create_organization(fresh_db, clock, "Cached A")).org_id
    second = (await organizations.create_organization(fresh_db, clock, "Cached B")).org_id
    await update_profile(fresh_db, first, default_sender_id="CLINIC")
    profiles = ProfileCache(fresh_db, cache_seconds=0)
    with count_statements(fresh_db, "organizations") as reads:
        found = await asyncio.gather(*(profiles.get(first if i % 2 else second) for i in range(30)))
    assert {p.default_sender_id for p in found[1::2]} == {"CLINIC"}
    assert {p.org_id for p in found[::2]} == {second}
    # One read per organization, not one per caller.
    assert len(reads) == 2
