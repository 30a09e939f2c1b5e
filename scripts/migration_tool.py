"""Developer chores on migrations: `new MESSAGE` writes one, `drift` checks none is missing."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import Connection

from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations, build_alembic_config, diff_schema_against_models


def _write_revision(connection: Connection, message: str) -> None:
    command.revision(build_alembic_config(connection), message=message, autogenerate=True)


async def _run(action: str, message: str, url: str) -> int:
    db = Database(url)
    try:
        await apply_migrations(db)
        if action == "new":
            async with db.write() as conn:
                await conn.run_sync(_write_revision, message)
            return 0
        diff = await diff_schema_against_models(db)
        if diff:
            print("schema.py and the migrations differ; run ./scripts/new-migration:")
            for item in diff:
                print(f"  {item}")
            return 1
        print("migrations match schema.py")
        return 0
    finally:
        await db.dispose()


def main() -> int:
    """Entry point."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"new", "drift"}:
        print("usage: migration_tool.py new MESSAGE | drift", file=sys.stderr)
        return 2
    action = sys.argv[1]
    message = sys.argv[2] if len(sys.argv) > 2 else ""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'drift.db'}"
        return asyncio.run(_run(action, message, url))


if __name__ == "__main__":
    sys.exit(main())
