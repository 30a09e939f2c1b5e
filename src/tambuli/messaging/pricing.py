"""The SMS price list: micro-USD per part by destination country and optional number prefix.

Shipped defaults apply until an operator sets a price for the same country and prefix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing.models import check_amount
from tambuli.clock import Clock
from tambuli.coalescing import SharedLoads
from tambuli.db.engine import Database
from tambuli.db.schema import prices
from tambuli.db.statements import execute
from tambuli.errors import InvalidInput, NotFound
from tambuli.messaging.models import find_price

# (country, prefix) -> micro-USD per part.
DEFAULT_PRICES: dict[tuple[str, str], int] = {
    ("PH", ""): 20_000,
    ("ID", ""): 25_000,
    ("KE", ""): 15_000,
    ("NG", ""): 30_000,
    ("US", ""): 10_000,
}
# Prices change rarely; a process re-reads them this often rather than on every send.
PRICE_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class PriceEntry:
    """One line of the price list."""

    country: str
    prefix: str
    price_micro: int
    shipped: bool
    updated_at: datetime | None


def _check_key(country: str, prefix: str) -> tuple[str, str]:
    code = country.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{country!r} is not a two-letter country code")
    if code not in phonenumbers.SUPPORTED_REGIONS:
        # No number ever resolves to an unknown country, so its price would never apply.
        raise InvalidInput(f"{country!r} is not a country code with phone numbers")
    digits = prefix.strip().lstrip("+")
    if digits and (not digits.isascii() or not digits.isdigit() or len(digits) > 15):
        raise InvalidInput(f"{prefix!r} is not a number prefix (digits with the country code)")
    return code, digits


async def _read_overrides(conn: AsyncConnection) -> list[PriceEntry]:
    rows = await execute(conn, select(prices).order_by(prices.c.country, prices.c.prefix))
    return [PriceEntry(r.country, r.prefix, int(r.price_micro), False, r.updated_at) for r in rows]


async def list_prices(db: Database) -> list[PriceEntry]:
    """The effective price list: operator entries and the shipped defaults they do not replace."""
    async with db.read() as conn:
        return await list_prices_within(conn)


async def list_prices_within(conn: AsyncConnection) -> list[PriceEntry]:
    """The effective price list, read in the caller's transaction."""
    overrides = await _read_overrides(conn)
    seen = {(e.country, e.prefix) for e in overrides}
    shipped = [
        PriceEntry(country, prefix, price, True, None)
        for (country, prefix), price in DEFAULT_PRICES.items()
        if (country, prefix) not in seen
    ]
    return sorted(overrides + shipped, key=lambda e: (e.country, e.prefix))


async def set_price(
    db: Database, clock: Clock, country: str, prefix: str, price_micro: int
) -> PriceEntry:
    """Set the price per part for a country (and optional prefix)."""
    code, digits = _check_key(country, prefix)
    # A free message would be sent to anyone without touching the balance: refuse zero.
    check_amount(price_micro)
    now = clock.now()
    async with db.write() as conn:
        result = await execute(
            conn,
            update(prices)
            .where(prices.c.country == code, prices.c.prefix == digits)
            .values(price_micro=price_micro, updated_at=now),
        )
        if int(result.rowcount) == 0:
            await execute(
                conn,
                insert(prices).values(
                    country=code, prefix=digits, price_micro=price_micro, updated_at=now
                ),
            )
    return PriceEntry(code, digits, price_micro, False, now)


async def remove_price(db: Database, country: str, prefix: str) -> None:
    """Remove an operator's price; a shipped default for the same key applies again."""
    code, digits = _check_key(country, prefix)
    async with db.write() as conn:
        result = await execute(
            conn, delete(prices).where(prices.c.country == code, prices.c.prefix == digits)
        )
    if int(result.rowcount) == 0:
        raise NotFound(f"No price set for {code} {digits or '(whole country)'}")


class PriceBook:
    """The effective prices of one process, re-read from the database every few seconds.

    `price_for` reads on a connection of its own, so it is for callers outside a transaction;
    inside one, `price_for_within` reads on the caller's connection. A caller that holds a
    connection and waits for another can starve the pool (db/engine.py).
    """

    def __init__(self, db: Database, cache_seconds: float = PRICE_CACHE_SECONDS) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._prices: dict[tuple[str, str], int] = {}
        self._loaded_at: float | None = None
        self._loads: SharedLoads[None, None] = SharedLoads()

    def _is_stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at >= self._cache_seconds

    async def price_for(self, country: str, number: str) -> int | None:
        """Micro-USD per part for a number in a country, or None when there is no price."""
        # Refused even when fresh, so a caller inside a transaction fails at once, not only
        # when the list happens to be stale.
        self._db.refuse_nested_wait()
        if self._is_stale():
            await self._loads.load(None, self._reload)
        return find_price(self._prices, country, number)

    async def price_for_within(
        self, conn: AsyncConnection, country: str, number: str
    ) -> int | None:
        """The same, reading a stale list on the caller's connection."""
        if self._is_stale():
            started = time.monotonic()
            self._remember(await list_prices_within(conn), started)
        return find_price(self._prices, country, number)

    async def _reload(self) -> None:
        started = time.monotonic()
        self._remember(await list_prices(self._db), started)

    def _remember(self, entries: list[PriceEntry], started: float) -> None:
        self._prices = {(e.country, e.prefix): e.price_micro for e in entries}
        self._loaded_at = started
