"""Apply and inspect Alembic migrations over Tambuli's own async connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from tambuli.db.engine import Database
from tambuli.db.schema import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed number: every Tambuli process that migrates PostgreSQL takes the same lock.
_PG_MIGRATION_LOCK = 74_261_001


def build_alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes starting at once must not run the same migration twice.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(build_alembic_config(connection), "head")


async def apply_migrations(db: Database) -> None:
    """Bring the database schema up to the newest migration."""
    async with db.write() as conn:
        await conn.run_sync(_upgrade_to_head)


def _current_and_head(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(build_alembic_config()).get_current_head()
    return current, head


async def read_schema_revision(db: Database) -> tuple[str | None, str | None]:
    """The database's current revision and the newest one shipped."""
    async with db.read() as conn:
        return await conn.run_sync(_current_and_head)


def _diff_schema(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def diff_schema_against_models(db: Database) -> list[Any]:
    """What schema.py has that the migrated database lacks (empty when no drift)."""
    async with db.read() as conn:
        return await conn.run_sync(_diff_schema)
