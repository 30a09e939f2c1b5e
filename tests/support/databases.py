"""Scratch databases for tests: a temporary SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations

POSTGRES_ENV = "TAMBULI_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    """The PostgreSQL server tests may use, or None when the suite runs on SQLite only."""
    return os.environ.get(POSTGRES_ENV) or None


@asynccontextmanager
async def scratch_database_url(backend: str, tmp_dir: Path) -> AsyncIterator[str]:
    """A URL of an empty database of the given backend, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'tambuli-{secrets.token_hex(4)}.db'}"
        return
    base = postgres_url()
    assert base is not None, f"{POSTGRES_ENV} is not set"
    url = make_url(base)
    name = f"tambuli_test_{secrets.token_hex(6)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def migrated_database(backend: str, tmp_dir: Path) -> AsyncIterator[Database]:
    """An empty, fully migrated Database of the given backend."""
    async with scratch_database_url(backend, tmp_dir) as url:
        db = Database(url)
        try:
            await apply_migrations(db)
            yield db
        finally:
            await db.dispose()
