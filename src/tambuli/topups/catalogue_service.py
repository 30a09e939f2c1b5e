"""Use cases of the top-up catalogue: load it, import one, go back to the built-in one."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.engine import Database
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import Catalogue, check_catalogue
from tambuli.topups.catalogue_store import delete_catalogue, replace_catalogue, select_catalogue

CATALOGUE_CACHE_SECONDS = 5.0


async def load_catalogue(db: Database) -> Catalogue:
    """The imported catalogue, or the built-in one while none is imported."""
    async with db.read() as conn:
        return await load_catalogue_within(conn)


async def load_catalogue_within(conn: AsyncConnection) -> Catalogue:
    """load_catalogue inside the caller's transaction."""
    stored = await select_catalogue(conn)
    return stored if stored.operators else BUILTIN_CATALOGUE


async def import_catalogue(db: Database, catalogue: Catalogue) -> None:
    """Check `catalogue`, then replace the stored one with it in one transaction."""
    check_catalogue(catalogue)
    async with db.write() as conn:
        await replace_catalogue(conn, catalogue)


async def reset_catalogue(db: Database) -> None:
    """Forget the imported catalogue: the built-in one applies again."""
    async with db.write() as conn:
        await delete_catalogue(conn)


class CatalogueCache:
    """The catalogue of one process, re-read from the database at most every few seconds.

    Top-ups look the catalogue up on every request; an import reaches every process within
    `ttl_seconds`.
    """

    def __init__(self, db: Database, ttl_seconds: float = CATALOGUE_CACHE_SECONDS) -> None:
        self._db = db
        self._ttl_seconds = ttl_seconds
        self._catalogue: Catalogue | None = None
        self._loaded_at = 0.0
        self._reload = asyncio.Lock()

    async def get(self) -> Catalogue:
        """The current catalogue, from memory while it is fresh."""
        if self._catalogue is not None and not self._is_stale():
            return self._catalogue
        # While one task reloads, the others keep using the previous catalogue rather than
        # queueing up behind it (or all querying at once).
        if self._catalogue is not None and self._reload.locked():
            return self._catalogue
        async with self._reload:
            if self._catalogue is None or self._is_stale():
                self._catalogue = await load_catalogue(self._db)
                self._loaded_at = time.monotonic()
            return self._catalogue

    async def get_within(self, conn: AsyncConnection) -> Catalogue:
        """get() inside the caller's transaction: a stale catalogue is read on its connection
        (asking the pool for a second one while holding the first starves it under load)."""
        if self._catalogue is not None and (not self._is_stale() or self._reload.locked()):
            return self._catalogue
        self._catalogue = await load_catalogue_within(conn)
        self._loaded_at = time.monotonic()
        return self._catalogue

    @property
    def latest(self) -> Catalogue | None:
        """The catalogue last loaded, without reading the database (None before the first get)."""
        return self._catalogue

    def expire(self) -> None:
        """Make the next get() read the database, e.g. right after an import."""
        self._loaded_at = float("-inf")

    def _is_stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self._ttl_seconds
