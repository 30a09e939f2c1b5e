"""The stored top-up catalogue: the built-in one until an import, imports all or nothing, reset.

The catalogue tables are shared by the whole installation, so each test has a database of its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tambuli.db.engine import Database
from tambuli.db.schema import topup_countries, topup_operators, topup_products
from tambuli.errors import InvalidCatalogue
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import Catalogue, Country, Operator, Product, ProductKind
from tambuli.topups.catalogue_service import (
    CatalogueCache,
    import_catalogue,
    load_catalogue,
    reset_catalogue,
)
from tambuli.topups.catalogue_store import replace_catalogue

KENYA = Country(code="KE", name="Kenya", local_currency="KES")
SAFARICOM = Operator(
    code="ke-safaricom",
    country="KE",
    name="Safaricom",
    currency="KES",
    minor_digits=2,
    carrier_names=("Safaricom",),
    prefixes=("25470", "254110"),
    provider_ref="1460",
    products=(
        Product(ProductKind.FIXED, 5000, None, None, 400_000, 5000),
        Product(ProductKind.RANGE, 1000, 1_000_000, 100, 8140, 100),
    ),
)
KENYA_ONLY = Catalogue(countries=(KENYA,), operators=(SAFARICOM,))


class Boom(Exception):
    """Raised on purpose inside a transaction."""


async def count_rows(db: Database) -> tuple[int, int, int]:
    async with db.read() as conn:
        counts = []
        for table in (topup_countries, topup_operators, topup_products):
            counts.append(
                int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            )
    return counts[0], counts[1], counts[2]


async def test_an_empty_database_gives_the_built_in_catalogue(fresh_db: Database) -> None:
    assert await load_catalogue(fresh_db) is BUILTIN_CATALOGUE


async def test_an_imported_catalogue_replaces_the_built_in_one(fresh_db: Database) -> None:
    await import_catalogue(fresh_db, KENYA_ONLY)
    loaded = await load_catalogue(fresh_db)
    assert loaded == KENYA_ONLY
    assert loaded.find_operator("ph-globe") is None
    assert loaded.detect_operator("254700000000", "KE", "").code == "ke-safaricom"


async def test_the_built_in_catalogue_survives_a_trip_through_the_database(
    fresh_db: Database,
) -> None:
    await import_catalogue(fresh_db, BUILTIN_CATALOGUE)
    loaded = await load_catalogue(fresh_db)
    assert loaded is not BUILTIN_CATALOGUE
    assert loaded == BUILTIN_CATALOGUE


async def test_a_second_import_leaves_nothing_of_the_first(fresh_db: Database) -> None:
    await import_catalogue(fresh_db, BUILTIN_CATALOGUE)
    await import_catalogue(fresh_db, KENYA_ONLY)
    assert await load_catalogue(fresh_db) == KENYA_ONLY
    assert await count_rows(fresh_db) == (1, 1, 2)


async def test_an_invalid_catalogue_leaves_the_previous_one(fresh_db: Database) -> None:
    await import_catalogue(fresh_db, KENYA_ONLY)
    broken = Catalogue(
        countries=(KENYA,),
        operators=(
            SAFARICOM,
            replace(
                SAFARICOM,
                code="ke-airtel",
                name="Airtel",
                carrier_names=("Airtel",),
                prefixes=("25470",),
                provider_ref="1461",
            ),
        ),
    )
    with pytest.raises(InvalidCatalogue, match="both claim prefix 25470"):
        await import_catalogue(fresh_db, broken)
    assert await load_catalogue(fresh_db) == KENYA_ONLY


async def test_a_replacement_in_a_failed_transaction_leaves_the_previous_catalogue(
    fresh_db: Database,
) -> None:
    await import_catalogue(fresh_db, KENYA_ONLY)
    with pytest.raises(Boom):
        async with fresh_db.write() as conn:
            await replace_catalogue(conn, BUILTIN_CATALOGUE)
            raise Boom
    assert await load_catalogue(fresh_db) == KENYA_ONLY


async def test_reset_brings_back_the_built_in_catalogue(fresh_db: Database) -> None:
    await import_catalogue(fresh_db, KENYA_ONLY)
    await reset_catalogue(fresh_db)
    assert await load_catalogue(fresh_db) is BUILTIN_CATALOGUE
    assert await count_rows(fresh_db) == (0, 0, 0)


async def test_the_cache_keeps_serving_its_catalogue_until_it_expires(fresh_db: Database) -> None:
    cache = CatalogueCache(fresh_db, ttl_seconds=3600)
    first = await cache.get()
    assert first is BUILTIN_CATALOGUE
    await import_catalogue(fresh_db, KENYA_ONLY)
    assert await cache.get() is first
    cache.expire()
    assert await cache.get() == KENYA_ONLY


async def test_the_cache_rereads_the_database_once_its_time_is_up(fresh_db: Database) -> None:
    cache = CatalogueCache(fresh_db, ttl_seconds=0.0)
    assert await cache.get() is BUILTIN_CATALOGUE
    await import_catalogue(fresh_db, KENYA_ONLY)
    assert await cache.get() == KENYA_ONLY
    await reset_catalogue(fresh_db)
    assert await cache.get() is BUILTIN_CATALOGUE


async def test_many_requests_at_once_share_one_catalogue(fresh_db: Database) -> None:
    await import_catalogue(fresh_db, KENYA_ONLY)
    cache = CatalogueCache(fresh_db)
    loaded = await asyncio.gather(*(cache.get() for _ in range(50)))
    assert all(catalogue is loaded[0] for catalogue in loaded)
    assert loaded[0] == KENYA_ONLY
